"""The one exception type for problems a user can fix.

The CLI prints a GanvasError as a single line (what is wrong and what to do)
and exits non-zero; anything else is a bug and keeps its traceback.
"""


class GanvasError(Exception):
    """A problem with the user's input, files or environment, with a message that says what to do."""


class DataError(GanvasError):
    """A dataset is missing, corrupt, or not what it claims to be."""


class CheckpointError(GanvasError):
    """A checkpoint or run folder cannot be read, or belongs to a different model."""
