"""Results on disk: run directories written atomically, tidy Parquet tables, provenance."""

from __future__ import annotations

import json
import os
import platform
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import pandas as pd


class OutputExistsError(Exception):
    """The output directory cannot be used: not empty (and overwriting was not asked for), not
    written by gcsim, or in a place the results could not be moved into."""


class ResultsKeptError(Exception):
    """The results are complete but could not be moved into place; ``kept`` holds them."""

    def __init__(self, message: str, kept: Path) -> None:
        super().__init__(message)
        self.kept = kept


def package_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in (
        "gcsim", "mesa", "numpy", "numba", "scipy", "pydantic", "pyarrow",
        "pandas", "lifelines", "scikit-learn", "matplotlib",
    ):  # fmt: skip
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "not installed"
    return out


# --- gcsim's output directories ---------------------------------------------------------------
#
# Every directory gcsim writes (a run, a sweep, and whatever kinds come later) carries one marker
# file, MARKER, naming its kind and its top-level entries. `--overwrite` replaces only such a
# directory, and only if it holds nothing but what the marker lists: a user's own files are never
# deleted. Directories written before the marker existed are recognised by their run.json or
# sweep.json.

MARKER = "gcsim-output.json"
MARKER_FORMAT = 1
LOCK = ".gcsim-lock.json"  # inside a .partial directory: which process is writing it
_TEMP_SUFFIXES = (".partial", ".old")


def write_marker(directory: Path, kind: str, files: list[str] | None) -> None:
    """Mark ``directory`` as gcsim's: ``kind`` ("run", "sweep", ...), its entries (``None``:
    everything in it is gcsim's, e.g. a sweep whose runs/ grows as runs finish)."""
    write_json(
        Path(directory) / MARKER,
        {
            "gcsim_output": kind,
            "format": MARKER_FORMAT,
            "gcsim_version": package_versions()["gcsim"],
            "files": None if files is None else sorted({*files, MARKER}),
        },
    )


def read_marker(directory: Path) -> dict[str, Any] | None:
    """The marker of a directory gcsim wrote, or None (a legacy run.json / sweep.json counts)."""
    directory = Path(directory)
    try:
        marker = json.loads((directory / MARKER).read_text())
        if isinstance(marker, dict) and isinstance(marker.get("gcsim_output"), str):
            return marker
    except (OSError, ValueError):
        pass
    try:
        legacy = json.loads((directory / "run.json").read_text())
        if isinstance(legacy, dict) and {"scenario_hash", "files"} <= legacy.keys():
            return {"gcsim_output": "run", "files": [*legacy["files"], "run.json"]}
    except (OSError, ValueError):
        pass
    try:
        legacy = json.loads((directory / "sweep.json").read_text())
        if isinstance(legacy, dict) and "plan_digest" in legacy:
            return {"gcsim_output": "sweep", "files": None}
    except (OSError, ValueError):
        pass
    return None


def _few(names: list[str], limit: int = 3) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def check_replaceable(out: Path, kind: str) -> None:
    """Refuse to replace ``out`` unless gcsim wrote it as a ``kind`` directory and it holds
    nothing else; the message names a few of the files that would have been deleted."""
    entries = sorted(p.name for p in out.iterdir())
    marker = read_marker(out)
    if marker is None:
        raise OutputExistsError(
            f"{out}: not a directory gcsim wrote (no {MARKER}); --overwrite would delete "
            f"{_few(entries)}: refusing (choose another --out, or empty it yourself)"
        )
    if marker["gcsim_output"] != kind:
        raise OutputExistsError(
            f"{out}: a gcsim {marker['gcsim_output']} directory; --overwrite replaces only a "
            f"{kind} directory"
        )
    listed = marker.get("files")
    if listed is not None:
        foreign = [name for name in entries if name not in set(listed)]
        if foreign:
            raise OutputExistsError(
                f"{out}: holds files gcsim did not write ({_few(foreign)}); --overwrite would "
                "delete them: refusing (move them out first)"
            )


def check_destination(out: Path, *, renamed_into_place: bool = True) -> None:
    """Refuse, before anything runs, an ``out`` the results could not be written to.

    Its nearest existing ancestor must be a directory this process can write in; a directory
    that is renamed into place must also not be a mount point, the working directory or one of
    its ancestors (none of which a rename can replace).
    """
    out = Path(out)
    if renamed_into_place:
        here = Path.cwd().resolve()
        where = out.resolve()
        if where == here or where in here.parents:
            raise OutputExistsError(
                f"{out}: is the working directory{'' if where == here else ' or contains it'}; "
                "the run directory replaces its target by a rename: choose a subdirectory"
            )
        if out.is_dir() and os.path.ismount(out):
            raise OutputExistsError(
                f"{out}: is a mount point, which a rename cannot replace: choose a directory "
                "inside it"
            )
    ancestor = out.parent if renamed_into_place else out
    while not ancestor.exists() and ancestor != ancestor.parent:
        if ancestor.is_symlink():  # a dangling link
            raise OutputExistsError(f"{ancestor}: is a broken symbolic link")
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise OutputExistsError(f"{out}: {ancestor} is a file, not a directory")
    try:  # a real probe: permissions, read-only mounts and ACLs all answer here
        probe = tempfile.mkdtemp(prefix=".gcsim-probe.", dir=ancestor)
    except OSError as exc:
        raise OutputExistsError(
            f"{out}: cannot write in {ancestor}: {exc.strerror or exc}"
        ) from None
    os.rmdir(probe)


def check_output_dir(out: Path, overwrite: bool, kind: str = "run") -> None:
    """Refuse a non-empty ``out`` unless ``overwrite`` and gcsim wrote it (see
    ``check_replaceable``); a file in its place, and a place it cannot be written, always."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise OutputExistsError(f"{out}: exists and is not a directory")
    check_destination(out)
    if out.is_dir() and any(out.iterdir()):
        if not overwrite:
            raise OutputExistsError(f"{out}: output directory is not empty (use --overwrite)")
        check_replaceable(out, kind)


# --- temporary directories and their owners ---------------------------------------------------


def process_start_time(pid: int) -> str | None:
    """When process ``pid`` started (opaque, comparable), or None if there is no such process.

    With the pid it identifies a process even after the pid is reused."""
    try:  # Linux: field 22 of /proc/PID/stat, in clock ticks since boot
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except FileNotFoundError:
        return None
    except (OSError, IndexError):
        pass
    try:
        import psutil

        return repr(psutil.Process(pid).create_time())
    except Exception:
        return None


def write_lock(directory: Path) -> None:
    """Record in ``directory`` that this process (pid, start time, host) is writing it."""
    write_json(
        Path(directory) / LOCK,
        {
            "pid": os.getpid(),
            "start_time": process_start_time(os.getpid()),
            "host": platform.node(),
        },
    )


def lock_owner_alive(directory: Path) -> bool | None:
    """True if the process that locked ``directory`` still runs (or cannot be checked: another
    host), False if it is gone, None if there is no readable lock."""
    try:
        lock = json.loads((Path(directory) / LOCK).read_text())
        pid, started, host = int(lock["pid"]), lock["start_time"], lock["host"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if host != platform.node():
        return True  # a shared filesystem: that host's processes cannot be checked from here
    now = process_start_time(pid)
    return now is not None and (started is None or now == started)


def clean_stale(parent: Path) -> list[str]:
    """Remove the temporary directories (``.NAME.*.partial`` / ``.old``) in ``parent`` whose
    writer is gone (a crash, a SIGKILL); return one line per directory removed or left.

    A directory whose owner still runs (a concurrent run) is not touched; one without a lock
    (written by an older gcsim, or results kept after a failed rename) is reported, not removed.
    """
    lines: list[str] = []
    try:
        entries = sorted(Path(parent).iterdir())
    except OSError:
        return lines
    for path in entries:
        if not (path.name.startswith(".") and path.name.endswith(_TEMP_SUFFIXES)):
            continue
        if not path.is_dir() or path.is_symlink():
            continue
        alive = lock_owner_alive(path)
        if alive is None:
            lines.append(f"{path}: left in place: a temporary directory with no {LOCK}")
        elif not alive:
            shutil.rmtree(path, ignore_errors=True)
            lines.append(f"removed {path}: left by a gcsim process that is gone")
    return lines


def _make_temp(out: Path, suffix: str) -> Path:
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=suffix, dir=out.parent))
    write_lock(tmp)
    return tmp


@contextmanager
def atomic_directory(out: Path, overwrite: bool, kind: str = "run") -> Iterator[Path]:
    """Yield a temporary directory beside ``out`` that replaces ``out`` only on success.

    An exception or an interrupt inside the block removes the temporary directory and leaves
    ``out`` as it was: a reader never sees a half-written run. The block must write the marker
    (``write_marker``). The temporary directory holds a lock naming this process, so that a run
    after a SIGKILL can tell it is stale (``clean_stale``). If the final rename fails the
    results stay in the temporary directory (unlocked) and ``ResultsKeptError`` says where.
    """
    out = Path(out)
    check_output_dir(out, overwrite, kind)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = _make_temp(out, ".partial")
    umask = os.umask(0)
    os.umask(umask)
    tmp.chmod(0o777 & ~umask)  # mkdtemp makes it private; the run directory should not be
    try:
        yield tmp
        (tmp / LOCK).unlink()
        if out.exists():
            check_replaceable(out, kind)  # once more: something may have been added meanwhile
        _move_into_place(tmp, out)
    except ResultsKeptError:
        raise
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _move_into_place(tmp: Path, out: Path) -> None:
    def kept(exc: OSError) -> ResultsKeptError:
        return ResultsKeptError(
            f"{out}: cannot move the results into place ({exc.strerror or exc}); they are "
            f"complete in {tmp}",
            tmp,
        )

    if not out.exists():
        try:
            os.replace(tmp, out)
        except OSError as exc:
            raise kept(exc) from None
        return
    trash = _make_temp(out, ".old")
    try:
        os.replace(out, trash / "old")
    except OSError as exc:
        shutil.rmtree(trash, ignore_errors=True)
        raise kept(exc) from None
    try:
        os.replace(tmp, out)
    except OSError as exc:
        os.replace(trash / "old", out)  # put the previous results back
        shutil.rmtree(trash, ignore_errors=True)
        raise kept(exc) from None
    shutil.rmtree(trash)


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """A hidden sibling (``.NAME.tmp``) to write ``path`` through: renamed onto ``path`` when
    the block ends, removed if it fails, so ``path`` is never seen half-written."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_text(path: Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(path: Path, data: dict[str, Any]) -> None:
    write_text(path, json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")


def write_parquet(path: Path, table: pd.DataFrame) -> None:
    with atomic_path(path) as tmp:
        table.to_parquet(tmp, index=False, engine="pyarrow")
