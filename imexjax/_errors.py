"""The base of every error a user can cause, and the errors the library raises itself."""


class UserError(Exception):
    """Input that imexjax cannot use: a bad option, missing or corrupt data, a run that cannot go on.

    The message is one line that names the problem and its fix, so command-line tools print it
    alone, without a traceback. Catch `UserError` to handle every such error at once.
    """

    def __init__(self, message: str = ""):
        super().__init__(" ".join(str(message).split()))


class ConfigError(UserError, ValueError):
    """A configuration value is out of range, or a run directory holds another run."""


class TrainingDivergedError(UserError, RuntimeError):
    """The loss became NaN or infinite; the last good checkpoint is kept."""


class RunNotFoundError(UserError, FileNotFoundError):
    """A folder holds no finished run (a file a finished run writes is missing)."""
