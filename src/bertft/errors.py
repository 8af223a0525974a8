"""The one exception type users see: a bad input or setting, told in one line."""


class BertftError(Exception):
    """A problem with the user's input or settings.

    The CLI prints the message alone (no traceback) and exits non-zero, so the message must
    say what is wrong and where: the file, the row, the column, what was expected.
    """
