"""The one exception type for user mistakes.

The CLI prints a ``HarnessError`` (and the loss registry's own ``LossError`` /
``InvalidParameterError``) as a single line and exits non-zero, without a traceback.
Anything else is a bug and keeps its traceback.
"""

from losses import InvalidParameterError, LossError


class HarnessError(Exception):
    """A mistake in what the user asked for; the message says what is allowed."""


USER_ERRORS = (HarnessError, LossError, InvalidParameterError)
