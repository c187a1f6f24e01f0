"""The one exception the CLI turns into a one-line message (exit 2, traceback only with --debug)."""


class FtpackError(Exception):
    """A problem the user can fix: the message names what is wrong and how to fix it."""
