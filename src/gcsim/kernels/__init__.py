"""Numba kernels: pure functions over arrays and scalars, one rule family per module.

Conventions: arrays are indexed ``[x, y]``; the eight Moore neighbours are ``DX, DY``; rates have
been converted to per-step probabilities by the caller; random numbers come from the model's
``numpy.random.Generator`` (through ``gcsim.kernels.rng``), so a run is reproducible from its
seed alone.
"""

import hashlib
from pathlib import Path


def clear_stale_cache(package: Path, also: tuple[Path, ...] = ()) -> bool:
    """Delete numba's cached machine code in ``package/__pycache__`` if any source of
    ``package``, or a file in ``also``, changed since it was compiled; True if it did.

    numba checks only the source file of each cached function, so a kernel that calls a helper
    from another module (``rng``, ``common``) would keep code built against the old helper
    after an edit or a ``git pull`` of an editable install. A hash of all the package's sources
    is kept beside the cache; when it differs, the cache is cleared and everything compiles
    afresh once. A read-only install is left alone (numba then caches per user, and
    reinstalling rewrites every source file, which numba does notice).
    """
    paths = [*sorted(package.glob("*.py")), *also]
    sources = b"".join(path.read_bytes() for path in paths)
    digest = hashlib.sha256(sources).hexdigest()
    cache = package / "__pycache__"
    stamp = cache / "kernel-sources.sha256"
    try:
        if stamp.is_file() and stamp.read_text() == digest:
            return False
        cache.mkdir(exist_ok=True)
        for compiled in cache.glob("*.nb[ic]"):
            compiled.unlink(missing_ok=True)
        stamp.write_text(digest)
    except OSError:
        return False
    return True


# Kernels also compile in the cell codes and flag tables of gcsim.state and gcsim.cells as
# constants (numba freezes module-level ints and arrays into the cached code).
clear_stale_cache(
    Path(__file__).parent,
    also=tuple(Path(__file__).parent.parent / name for name in ("state.py", "cells.py")),
)
