"""Local worker processes, shared by ``gcsim run`` (arms × replicates) and ``gcsim sweep``."""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures import as_completed as futures_completed
from typing import Any


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity where the OS tells it)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


class LocalPool:
    """A process pool on this machine. Processes are spawned, not forked: a fork of a process
    that has started threads (numba, BLAS, a progress display) can deadlock, and spawned workers
    match Dask's."""

    def __init__(self, workers: int) -> None:
        self.description = f"local pool, {workers} worker process{'es' if workers > 1 else ''}"
        self._pool = ProcessPoolExecutor(
            max_workers=workers, mp_context=multiprocessing.get_context("spawn")
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
        self._pool.shutdown(wait=not abort, cancel_futures=True)
