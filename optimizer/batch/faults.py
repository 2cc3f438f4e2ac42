"""Fault injection for tests and fire drills: callables the worker calls with each account id.

They are plain picklable objects so they travel to Dask workers. They exist to prove the
batch survives what production throws at it (a worker process dying, an account that
hangs); the normal ``run_batch`` path never uses them.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class CrashOnce:
    """Kill the worker process (``os._exit``) on ``account_id``, the first time only.

    The first try leaves ``marker``; a retry that finds it goes on normally.
    """

    account_id: str
    marker: str

    def __call__(self, account_id: str) -> None:
        if account_id == self.account_id and not Path(self.marker).exists():
            Path(self.marker).write_text(str(os.getpid()))
            os._exit(17)


@dataclass(frozen=True)
class Stall:
    """Sleep ``seconds`` before solving ``account_id`` (a hung solve or a slow data source)."""

    account_id: str
    seconds: float

    def __call__(self, account_id: str) -> None:
        if account_id == self.account_id:
            time.sleep(self.seconds)


@dataclass(frozen=True)
class Slow:
    """Sleep ``seconds`` before solving every account (a slow cluster, for drills that act mid-run)."""

    seconds: float

    def __call__(self, account_id: str) -> None:
        time.sleep(self.seconds)


@dataclass(frozen=True)
class CrashAlways:
    """Kill the worker process every time ``account_id`` comes up (a poison account)."""

    account_id: str

    def __call__(self, account_id: str) -> None:
        if account_id == self.account_id:
            os._exit(18)


@dataclass(frozen=True)
class FailWrites:
    """The output filesystem refuses writes (``errno``: ENOSPC full, EROFS read-only) once
    ``after_parts`` parts exist: a drill for a disk that fills up or turns read-only mid-run."""

    after_parts: int
    errno_code: int = 28  # ENOSPC
    delay_s: float = 0.0  # a slow disk: each refused write takes this long (its part's temporary folder exists)

    def __call__(self, account_id: str) -> None:
        return None

    def before_write(self, parts_dir: Path) -> None:
        parts = [p for p in Path(parts_dir).iterdir() if p.is_dir() and not p.name.startswith(".")]
        if len(parts) >= self.after_parts:
            time.sleep(self.delay_s)
            raise OSError(self.errno_code, os.strerror(self.errno_code), str(parts_dir))


def run_in_child(book: str, date: str, out: str, chunk_size: int) -> None:
    """A resumable batch on a one-thread in-process cluster: the target of a child process that a
    chaos drill kills with SIGKILL at random moments (nothing of it survives the kill)."""
    from optimizer.batch.runner import execute

    execute(Path(book), date, Path(out), workers=1, processes=False, resume=True, progress=False,
            chunk_size=chunk_size)
