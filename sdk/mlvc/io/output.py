"""Output paths for the command line: checked before any work, written under a temporary name in
the same folder and renamed on success, so a failed command leaves no 0-byte or partial file.

The temporary names start with a dot and contain `.part` (`.clip.k3j9.part.mlvc`); the suffix
stays last, because ffmpeg and OpenCV choose the container from it.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from ..errors import InvalidArgumentError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def check_output(path: str | os.PathLike, *, folder: bool = False) -> Path:
    """The output `path` as a Path, or an InvalidArgumentError that names the problem: its folder
    is missing or not a folder, it is a folder where a file is wanted (or the reverse)."""
    p = Path(path)
    parent = p.parent
    if not parent.exists():
        raise InvalidArgumentError(f"output {p}: folder {parent} does not exist")
    if not parent.is_dir():
        raise InvalidArgumentError(f"output {p}: {parent} is not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise InvalidArgumentError(f"output {p}: folder {parent} is not writable")
    if folder:
        if p.exists() and not p.is_dir():
            raise InvalidArgumentError(f"output {p} exists and is not a folder")
    elif p.is_dir():
        raise InvalidArgumentError(f"output {p} is a folder; give a file name")
    return p


def temp_name(path: Path) -> Path:
    """A fresh temporary file next to `path` with the same suffix (created, empty)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.",
                               suffix=f".part{path.suffix}")
    os.close(fd)
    return Path(tmp)


def commit_file(tmp: Path, path: Path) -> None:
    """Give `tmp` the permissions a new file would have and rename it to `path` (atomic)."""
    os.chmod(tmp, 0o666 & ~_umask())
    os.replace(tmp, path)


def discard(tmp: Path | None) -> None:
    if tmp is None:
        return
    try:
        if tmp.is_dir():
            shutil.rmtree(tmp)
        else:
            tmp.unlink()
    except FileNotFoundError:
        pass


class AtomicFile:
    """`with AtomicFile(path) as fh:` writes a temporary file next to `path` (seekable, "w+b")
    and renames it to `path` when the block ends without an exception; on an exception (or a
    KeyboardInterrupt) the temporary file is removed and `path` is left as it was."""

    def __init__(self, path: str | os.PathLike):
        self.path = check_output(path)
        self.tmp: Path | None = None
        self.fh = None

    def __enter__(self):
        self.tmp = temp_name(self.path)
        self.fh = open(self.tmp, "w+b")
        return self.fh

    def __exit__(self, exc_type, exc, tb) -> bool:
        try:
            self.fh.close()
        except OSError:
            if exc_type is None:
                discard(self.tmp)
                raise
        if exc_type is None:
            try:
                commit_file(self.tmp, self.path)
            except BaseException:
                discard(self.tmp)
                raise
        else:
            discard(self.tmp)
        return False


class AtomicFolder:
    """A folder of output files built under a temporary name next to `path`.  commit(): renamed to
    `path` if that does not exist, else its files are moved into the existing folder (replacing
    files of the same name)."""

    def __init__(self, path: str | os.PathLike):
        self.path = check_output(path, folder=True)
        self.tmp = Path(tempfile.mkdtemp(dir=self.path.parent, prefix=f".{self.path.name}.",
                                         suffix=".part"))

    def commit(self) -> None:
        if not self.path.exists():
            os.chmod(self.tmp, 0o777 & ~_umask())
            os.replace(self.tmp, self.path)
            return
        for f in sorted(self.tmp.iterdir()):
            commit_file(f, self.path / f.name)
        self.tmp.rmdir()

    def discard(self) -> None:
        discard(self.tmp)
