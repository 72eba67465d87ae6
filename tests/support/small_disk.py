"""A real, tiny filesystem (tmpfs) for tests that need a full disk.

``small_disk(directory, size_bytes)`` mounts a tmpfs of that size on ``directory`` and unmounts
it afterwards; ``SmallDisk.fill`` takes the free space away with a filler file and ``release``
gives it back. Mounting needs root (the test machine runs tests as root); anywhere else the
test is skipped with a reason that says so.

    with small_disk(tmp_path / "disk", 400_000) as disk:
        disk.fill(leave_bytes=100_000)
        ...  # writes beyond 100 KB fail with ENOSPC
        disk.release()
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

PAGE = 4096  # tmpfs hands out whole pages


@dataclass
class SmallDisk:
    path: Path
    size_bytes: int
    fillers: list[Path] = field(default_factory=list)

    def free_bytes(self) -> int:
        return shutil.disk_usage(self.path).free

    def fill(self, leave_bytes: int = 0) -> Path:
        """Take all but about ``leave_bytes`` of the free space (to the page); returns the file."""
        filler = self.path / f"filler-{len(self.fillers)}.bin"
        size = max(self.free_bytes() - leave_bytes, 0) // PAGE * PAGE
        with filler.open("wb") as file:
            file.write(bytes(size))
        self.fillers.append(filler)
        return filler

    def release(self) -> None:
        """Delete the filler files: the space they took is free again."""
        for filler in self.fillers:
            filler.unlink(missing_ok=True)
        self.fillers.clear()


@contextmanager
def small_disk(directory: Path, size_bytes: int) -> Iterator[SmallDisk]:
    """Mount a ``size_bytes`` tmpfs on ``directory`` (created if needed) for the block."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs to fill up needs root (the test machine runs as root)")
    directory.mkdir(parents=True, exist_ok=True)
    size_kib = max(size_bytes // 1024, 4)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size_kib}k,mode=0755", "tmpfs", str(directory)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs on {directory}: {mounted.stderr.strip()}")
    try:
        yield SmallDisk(directory, size_kib * 1024)
    finally:
        # Lazy: a file a failed test left open must not turn clean-up into a second failure.
        subprocess.run(["umount", "-l", str(directory)], capture_output=True, check=False)
