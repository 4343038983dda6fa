"""The base of every error a user can cause, and the errors the library raises itself."""


class UserError(Exception):
    """Input that imexjax cannot use: a bad option, missing or corrupt data, a run that cannot go on.

    The message is one line that names the problem and its fix, so command-line tools print it
    alone, without a traceback. Catch `UserError` to handle every such error at once.
    """

    def __init__(self, message: str = ""):
        super().__init__(" ".join(str(message).split()))


class ArgumentError(ValueError):
    """A `ValueError` about one argument of a function or constructor, which `argument` names.

    The lowest layer that owns an option raises it; a layer above that holds the option under
    another name (a config field, a command-line flag) translates the message instead of
    checking the option again.
    """

    def __init__(self, argument: str, message: str):
        super().__init__(message)
        self.argument = argument


class ConfigError(UserError, ValueError):
    """A configuration value is out of range, or a run directory holds another run.

    Attributes:
      field: the configuration field (or the argument of the engine) the message is about, if
        one; a command-line tool names that field's flag instead.
    """

    def __init__(self, message: str = "", *, field: str | None = None):
        super().__init__(message)
        self.field = field


class TrainingDivergedError(UserError, RuntimeError):
    """The loss became NaN or infinite; the last good checkpoint is kept."""


class RunNotFoundError(UserError, FileNotFoundError):
    """A folder holds no finished run (a file a finished run writes is missing)."""
