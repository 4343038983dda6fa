"""The error raised for unusable Q-tips data."""

from ..._errors import UserError


class QtipsDataError(UserError, ValueError):
    """Q-tips data that cannot be read or written as asked.

    The message is one line that names the problem and its fix, so that command-line tools can
    print it without a traceback.
    """
