"""The one exception type for user mistakes, and the set of errors shown as one line.

The command lines print a :class:`HarnessError` (and the loss registry's own ``LossError``
/ ``InvalidParameterError``, see :func:`user_errors`) as a single line and exit 2, without
a traceback. Anything else is a bug and keeps its traceback.

This module imports nothing (``--help`` of every command reads it).
"""


class HarnessError(Exception):
    """A mistake in what the user asked for; the message says what is allowed."""


def user_errors() -> tuple[type[Exception], ...]:
    """The exception types that are user mistakes: :class:`HarnessError` and the loss
    registry's ``LossError`` and ``InvalidParameterError``."""
    from losses.params import InvalidParameterError
    from losses.registry import LossError

    return (HarnessError, LossError, InvalidParameterError)



def run_command(main) -> None:  # main: () -> int | None
    """Run a command's ``main`` and exit with its code. Output read by a consumer that
    stops early (``python -m harness ... | head``) ends the command quietly with 141, as
    a shell reports a pipe's writer (128 + SIGPIPE); every file was written before.

    However the command ends (its code, ``sys.exit``, an exception), every object is
    first frozen out of the cyclic garbage collector (:func:`gc.freeze`): the
    interpreter's finalisation then skips a collection that walks each of the objects
    the imports made (torch, scikit-learn and SciPy: about 300,000), some 0.6 s of a 6 s
    command here (the same command with and without it, in alternation). Everything
    else of an exit happens as
    before: ``atexit`` handlers (log files flushed and closed), threads joined, standard
    streams flushed, modules torn down."""
    import gc
    import os
    import sys

    from harness.startup import command

    command()  # heavy imports from here on are frozen once made (harness.startup)
    try:
        try:
            code = main()
            if not isinstance(code, int):  # a main that returns what it made (the zoo's figures)
                code = 0
        except BrokenPipeError:
            devnull = os.open(os.devnull, os.O_WRONLY)  # Python's own flush at exit would
            os.dup2(devnull, sys.stdout.fileno())       # raise again into a closed pipe
            code = 141
    finally:
        gc.freeze()
    sys.exit(code)
