"""Local worker processes, shared by ``gcsim run`` (arms × replicates) and ``gcsim sweep``.

Workers never outlive the process that started them, whatever ends it — Ctrl-C, SIGTERM, or a
SIGKILL that leaves it no chance to clean up: on Linux each worker asks the kernel for SIGKILL
when its parent dies (``prctl(PR_SET_PDEATHSIG)``); everywhere, a watchdog thread in the worker
also exits it once its parent is gone. With the workers gone, multiprocessing's resource
tracker (which the workers hold open) exits too.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures import as_completed as futures_completed
from typing import Any

_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
WATCHDOG_INTERVAL_S = 0.5


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity where the OS tells it)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def _set_parent_death_signal() -> bool:
    """Ask Linux to SIGKILL this process when its parent exits; False where unavailable."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        return libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _watch_parent(parent: int) -> None:
    """Exit this process once ``parent`` is no longer its parent (it died: we were re-parented)."""
    while os.getppid() == parent:
        time.sleep(WATCHDOG_INTERVAL_S)
    os._exit(1)


def die_with_parent(parent: int) -> None:
    """Worker initialiser: this process ends when ``parent`` (the pool's owner) ends.

    The death signal is set first, then the parent is checked: a parent that died between
    starting this worker and the ``prctl`` call would otherwise never be noticed.
    """
    _set_parent_death_signal()
    if os.getppid() != parent:
        os._exit(1)
    threading.Thread(
        target=_watch_parent, args=(parent,), daemon=True, name="gcsim-watchdog"
    ).start()


class LocalPool:
    """A process pool on this machine. Processes are spawned, not forked: a fork of a process
    that has started threads (numba, BLAS, a progress display) can deadlock, and spawned workers
    match Dask's. Each worker dies with this process (see the module docstring)."""

    def __init__(self, workers: int) -> None:
        self.description = f"local pool, {workers} worker process{'es' if workers > 1 else ''}"
        self._pool = ProcessPoolExecutor(
            max_workers=workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=die_with_parent,
            initargs=(os.getpid(),),
        )

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future:
        return self._pool.submit(fn, *args)

    def as_completed(self, futures: Iterable[Future]) -> Iterator[Future]:
        return futures_completed(list(futures))

    def close(self, abort: bool = False) -> None:
        """Release the workers; ``abort`` (an interrupt, an error) stops runs in progress too."""
        if abort:
            # shutdown() would wait for the runs in progress, minutes on a large lattice
            for process in list(getattr(self._pool, "_processes", {}).values()):
                process.terminate()
        # Wait even on abort (the workers are gone, so it is short): the pool's management
        # thread must close its wakeup pipe before the interpreter exits, or concurrent.futures'
        # exit hook may write to the pipe as it closes ("Exception ignored … Bad file
        # descriptor" on stderr after the one-line message; seen once under load).
        self._pool.shutdown(wait=True, cancel_futures=True)
