"""One line that says why a checkpoint could not be written and how much room is left."""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

_PLAIN_WORDS = {
    errno.ENOSPC: "no space left on device",
    errno.EDQUOT: "disk quota exceeded",
}


def describe_save_error(error: OSError, directory: Path) -> str:
    """``no space left on device (84 KB free)``; other errors name their errno."""
    code = error.errno
    if code in _PLAIN_WORDS:
        what = _PLAIN_WORDS[code]
    elif code is not None:
        what = f"{os.strerror(code).lower()} ({errno.errorcode.get(code, code)})"
    else:
        what = str(error)
    free = free_bytes(directory)
    return what if free is None else f"{what} ({format_bytes(free)} free)"


def free_bytes(directory: Path) -> int | None:
    """Free space for an unprivileged writer on the filesystem that holds ``directory``."""
    # The folder itself may not exist yet (its mkdir is what failed): ask its nearest parent.
    for candidate in (directory, *directory.parents):
        if candidate.exists():
            try:
                return shutil.disk_usage(candidate).free
            except OSError:
                return None
    return None


def format_bytes(count: int) -> str:
    for unit, size in (("GB", 1e9), ("MB", 1e6)):
        if count >= size:
            return f"{count / size:.1f} {unit}"
    return f"{count / 1e3:.0f} KB"
