"""Durable, atomic file writes shared by the CLI, the batch and the backtester.

Every writer here follows the same recipe, so a crash or a kill at any instant leaves
either the old file or the new one, never half of one:

1. write to a temporary file with a **unique** name in the target's own folder
   (``.<name>.<random>.tmp``; two writers never share a temporary file);
2. ``fsync`` the temporary file;
3. ``os.replace`` it onto the target;
4. ``fsync`` the folder, so the rename itself survives a power loss.

Files get mode ``0o666`` less the process umask (``0644`` under the usual umask 022):
readable by the operators and tools that pick them up, unlike ``tempfile.mkstemp``'s
``0600``. A failed write removes its temporary file and re-raises the ``OSError``.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Callable

#: Mode of new files before the umask is applied.
FILE_MODE = 0o666


def current_umask() -> int:
    """The process umask (read from ``/proc`` where possible, so no thread sees it changed)."""
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def temp_path(final: Path, kind: str = "tmp") -> Path:
    """A unique hidden sibling of ``final``: ``.<name>.<32 hex>.<kind>``."""
    final = Path(final)
    return final.with_name(f".{final.name}.{uuid.uuid4().hex}.{kind}")


def fsync_dir(folder: Path) -> None:
    """``fsync`` a folder so renames and new entries in it are durable (no-op where unsupported)."""
    try:
        fd = os.open(str(folder), os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def fsync_file(path: Path) -> None:
    """``fsync`` a file's data."""
    fd = os.open(str(path), os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def commit(tmp: Path, final: Path) -> Path:
    """Make ``tmp`` (already written and closed) the file ``final``: chmod, fsync, rename, fsync folder."""
    tmp, final = Path(tmp), Path(final)
    os.chmod(tmp, FILE_MODE & ~current_umask())
    fsync_file(tmp)
    os.replace(tmp, final)
    fsync_dir(final.parent)
    return final


def write_with(final: Path, writer: Callable[[Path], None]) -> Path:
    """Atomically create ``final`` by calling ``writer(temporary_path)``; see the module docstring."""
    final = Path(final)
    tmp = temp_path(final)
    try:
        writer(tmp)
        return commit(tmp, final)
    except BaseException:
        try:
            tmp.unlink()
        except OSError:
            pass
        raise


def write_bytes(final: Path, data: bytes) -> Path:
    """Atomically write ``data`` to ``final``."""
    return write_with(final, lambda tmp: tmp.write_bytes(data))


def write_text(final: Path, text: str) -> Path:
    """Atomically write ``text`` (UTF-8) to ``final``."""
    return write_with(final, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def sync_tree(folder: Path) -> None:
    """``fsync`` every file of ``folder`` (not recursive) and the folder itself, before it is renamed."""
    folder = Path(folder)
    mode = FILE_MODE & ~current_umask()
    for entry in folder.iterdir():
        if entry.is_file():
            os.chmod(entry, mode)
            fsync_file(entry)
    fsync_dir(folder)


__all__ = ["commit", "current_umask", "fsync_dir", "fsync_file", "sync_tree", "temp_path", "write_bytes",
           "write_text", "write_with"]
