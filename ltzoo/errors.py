"""Errors about what a user gave ltzoo (a recipe key, a file, a command-line value).

The ``ltzoo`` command prints these as one line and exits with status 2; any other exception is
a bug, and keeps its traceback.
"""


class InputError(ValueError):
    """Bad input from the user; the message names the input, the value and what is allowed."""


class ConfigError(InputError):
    """A recipe or override that does not fit the config schema."""


__all__ = ["ConfigError", "InputError"]
