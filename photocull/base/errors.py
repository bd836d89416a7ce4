"""The one exception type the CLI turns into a message instead of a traceback."""


class PhotocullError(Exception):
    """A problem the user can act on; its text says what went wrong and what to do."""
