"""The exceptions users see: a bad input or setting, and a run stopped by a signal."""

from __future__ import annotations

import signal
from pathlib import Path

EXIT_CODES = {signal.SIGTERM: 143, signal.SIGINT: 130}  # 128 + signal number, as shells report


class BertftError(Exception):
    """A problem with the user's input or settings.

    The CLI prints the message alone (no traceback) and exits non-zero, so the message must
    say what is wrong and where: the file, the row, the column, what was expected.
    """


class Interrupted(Exception):
    """Training stopped on a signal after writing a checkpoint; the CLI exits with `exit_code`."""

    def __init__(self, signum: int, checkpoint: Path | None):
        self.signum, self.checkpoint = signum, checkpoint
        self.exit_code = EXIT_CODES.get(signum, 128 + signum)
        where = f"checkpoint saved to {checkpoint}" if checkpoint else "before training began"
        super().__init__(
            f"stopped by {signal.Signals(signum).name}; {where}. "
            f"Run the same command again to resume."
        )
