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

