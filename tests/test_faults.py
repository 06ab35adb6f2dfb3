"""Fault injection: real `gcsim run` / `gcsim sweep` processes killed mid-run, and every place an
output directory could be lost, half-written or wrongly deleted (issue 15).

Each test starts the command in its own session (as a terminal or a batch scheduler would) and
checks, within a few seconds, that no process of that session is left, what is on disk, and what
the next command does with it.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

import gcsim.io
from gcsim.io import (
    LOCK,
    MARKER,
    OutputExistsError,
    ResultsKeptError,
    clean_stale,
    process_start_time,
)
from gcsim.runner import run_scenario
from gcsim.scenario import Scenario
from gcsim.sweep.design import plan_runs
from gcsim.sweep.execute import InProcess, run_sweep
from gcsim.sweep.spec import load_sweep
from sweep_helpers import SLOWER, assert_same_results, write_sweep

GCSIM = [sys.executable, "-m", "gcsim.cli"]
CLEANUP_S = 10.0  # every process of the killed command must be gone within this

# 2 arms × 2 replicates on 60 × 60 sites for 30 days: a few seconds a run, so a kill lands
# while the workers compute.
SCENARIO = (
    "name: faults\ndomain: {width: 60, height: 60}\ntime: {days: 30}\n"
    "tumor: {initial_radius_um: 300}\nreplicates: 2\narms: {a: [], b: []}\n"
)
SMALL_FILE = (
    "name: s\ndomain: {width: 40, height: 40}\ntime: {days: 1}\ntumor: {initial_radius_um: 200}\n"
)
TINY = Scenario.model_validate(
    {
        "name": "tiny",
        "seed": 3,
        "domain": {"width": 40, "height": 40},
        "time": {"days": 1},
        "tumor": {"initial_radius_um": 200},
    }
)


def _session(sid: int) -> list[psutil.Process]:
    """Every live process of session ``sid`` (zombies count as gone)."""
    alive = []
    for process in psutil.process_iter(["status"]):
        try:
            if os.getsid(process.pid) == sid and process.info["status"] != psutil.STATUS_ZOMBIE:
                alive.append(process)
        except (ProcessLookupError, PermissionError, psutil.Error):
            continue
    return alive


def _wait_session_empty(sid: int) -> float:
    """Seconds until no process of session ``sid`` is left; fails after CLEANUP_S."""
    started = time.monotonic()
    while time.monotonic() - started < CLEANUP_S:
        if not _session(sid):
            return time.monotonic() - started
        time.sleep(0.05)
    left = [(p.pid, " ".join(p.cmdline()[:4])) for p in _session(sid)]
    for process in _session(sid):  # do not leave them to the next test
        process.kill()
    pytest.fail(f"processes left {CLEANUP_S} s after the parent was killed: {left}")


def _start(args: list[str], cwd: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [*GCSIM, *args],
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def _workers(parent: psutil.Process) -> list[psutil.Process]:
    found = []
    for child in parent.children():
        try:
            if "spawn_main" in " ".join(child.cmdline()):
                found.append(child)
        except psutil.Error:  # a short-lived helper that already exited
            continue
    return found


def _wait_for_workers(process: subprocess.Popen, count: int, timeout: float = 60.0) -> None:
    """Until ``process`` has ``count`` pool workers that are computing (past their imports)."""
    deadline = time.monotonic() + timeout
    parent = psutil.Process(process.pid)
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stderr.read() if process.stderr else ""
        try:
            workers = _workers(parent)
            if len(workers) >= count and all(w.cpu_times().user > 1.5 for w in workers):
                return
        except psutil.Error:
            pass
        time.sleep(0.1)
    pytest.fail("the workers never started")


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_run_workers_die_with_their_parent_and_the_next_run_cleans_up(tmp_path, sig):
    (tmp_path / "s.yaml").write_text(SCENARIO)
    process = _start(["run", "s.yaml", "--out", "out", "--workers", "2"], tmp_path)
    _wait_for_workers(process, 2)
    assert process.poll() is None and not (tmp_path / "out").exists()  # really mid-run
    os.kill(process.pid, sig)  # the parent only, as `kill`, `timeout` or the OOM killer do
    _, stderr = process.communicate(timeout=30)
    _wait_session_empty(process.pid)  # workers and the resource tracker are gone too
    partials = [p.name for p in tmp_path.iterdir() if p.name.endswith(".partial")]
    if sig == signal.SIGTERM:
        assert process.returncode == 128 + signal.SIGTERM
        assert stderr.strip() == (
            "terminated (SIGTERM): the workers were stopped and nothing was written to out"
        )
        assert partials == []
    else:
        assert process.returncode == -signal.SIGKILL
        assert len(partials) == 1  # nothing could clean up: the next run must
        assert (tmp_path / partials[0] / LOCK).is_file()
    again = subprocess.run(
        [*GCSIM, "run", "s.yaml", "--out", "out", "--workers", "0", "--set", "time.days=1"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert again.returncode == 0, again.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "s.yaml"]
    if sig == signal.SIGKILL:
        assert f"warning: removed {partials[0]}: left by a gcsim process that is gone" in (
            again.stderr
        )


def test_ctrl_c_of_a_run_says_what_happened(tmp_path):
    (tmp_path / "s.yaml").write_text(SCENARIO)
    process = _start(["run", "s.yaml", "--out", "out", "--workers", "2"], tmp_path)
    _wait_for_workers(process, 2)
    os.killpg(process.pid, signal.SIGINT)  # Ctrl-C: the terminal signals the whole group
    _, stderr = process.communicate(timeout=30)
    _wait_session_empty(process.pid)
    assert process.returncode == 130
    assert "interrupted: the workers were stopped and nothing was written to out" in stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.yaml"]


@pytest.fixture(scope="module")
def reference_sweep(tmp_path_factory):
    """12 runs of ~0.3 s, run in this process: what an interrupted-and-resumed sweep must give."""
    directory = tmp_path_factory.mktemp("faults_sweep")
    factors = {
        "tumor.pdl1_cps": {"levels": [1, 10, 40]},
        "immune.phenotype": {"levels": ["inflamed", "desert"]},
    }
    sweep_file = write_sweep(directory, factors=factors, name="faults", fixed=SLOWER)
    sweep = load_sweep(sweep_file)
    run_sweep(sweep, plan_runs(sweep), directory / "reference", InProcess())
    return sweep_file, directory / "reference"


def _finished(out: Path) -> int:
    return len(list((out / "runs").glob("*.json"))) if (out / "runs").is_dir() else 0


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_sweep_workers_die_with_their_parent_and_resume_completes(reference_sweep, tmp_path, sig):
    sweep_file, expected = reference_sweep
    out = tmp_path / "out"
    process = _start(["sweep", str(sweep_file), "--out", str(out), "--workers", "2"], tmp_path)
    deadline = time.monotonic() + 120
    while _finished(out) < 2 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    os.kill(process.pid, sig)
    _, stderr = process.communicate(timeout=30)
    cleanup_s = _wait_session_empty(process.pid)
    assert cleanup_s < CLEANUP_S
    done = _finished(out)
    assert 2 <= done < 12, "the sweep must be killed mid-way for this test to mean anything"
    if sig == signal.SIGTERM:
        assert process.returncode == 143
        assert stderr.strip().splitlines()[-1] == (
            f"terminated (SIGTERM): finished runs are kept in {out}; rerun with --resume"
        )
    else:
        assert process.returncode == -signal.SIGKILL
    resumed = subprocess.run(
        [*GCSIM, "sweep", str(sweep_file), "--out", str(out), "--workers", "2", "--resume"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert resumed.returncode == 0, resumed.stderr
    assert len(list((out / "runs").glob("*.json"))) == 12  # exactly one result per run
    assert_same_results(expected, out)


# --- stale temporary directories -------------------------------------------------------------


def _lock(directory: Path, pid: int, start_time: str | None, host: str | None = None) -> Path:
    directory.mkdir()
    (directory / "timeseries.parquet").write_bytes(b"half")
    lock = {"pid": pid, "start_time": start_time, "host": host or os.uname().nodename}
    (directory / LOCK).write_text(json.dumps(lock))
    return directory


def test_only_temporary_directories_whose_owner_is_gone_are_removed(tmp_path):
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()  # its pid now names no process
    dead = _lock(tmp_path / ".out.dead.partial", child.pid, "1")
    # a pid in use again by another process: the start time tells them apart
    reused = _lock(tmp_path / ".out.reused.partial", os.getpid(), "0")
    running = _lock(tmp_path / ".out.running.partial", os.getpid(), process_start_time(os.getpid()))
    elsewhere = _lock(tmp_path / ".out.remote.old", 1, "1", host="another-host")
    unlocked = tmp_path / ".out.unlocked.partial"
    unlocked.mkdir()
    mine = tmp_path / "mine.partial"  # not hidden: not one of gcsim's
    mine.mkdir()
    result = run_scenario(TINY, tmp_path / "out")
    assert not dead.exists() and not reused.exists()
    assert running.exists() and elsewhere.exists() and unlocked.exists() and mine.exists()
    assert (result.out / MARKER).is_file()
    lines = clean_stale(tmp_path)
    assert lines == [f"{unlocked}: left in place: a temporary directory with no {LOCK}"]


# --- --overwrite replaces only what gcsim wrote ----------------------------------------------


def test_overwrite_refuses_a_folder_gcsim_did_not_write_and_keeps_its_files(tmp_path):
    folder = tmp_path / "thesis"
    folder.mkdir()
    (folder / "thesis.txt").write_text("four years")
    (folder / "data.csv").write_text("1,2")
    (tmp_path / "s.yaml").write_text(SMALL_FILE)
    done = subprocess.run(
        [*GCSIM, "run", "s.yaml", "--out", "thesis", "--overwrite"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2
    assert done.stderr.strip() == (
        f"thesis: not a directory gcsim wrote (no {MARKER}); --overwrite would delete data.csv, "
        "thesis.txt: refusing (choose another --out, or empty it yourself)"
    )
    assert (folder / "thesis.txt").read_text() == "four years"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.yaml", "thesis"]


def test_overwrite_replaces_a_run_directory_but_not_files_added_to_it(tmp_path):
    out = tmp_path / "run"
    run_scenario(TINY, out)
    first = (out / "run.json").read_text()
    run_scenario(TINY.model_copy(update={"seed": 4}), out, overwrite=True)
    assert (out / "run.json").read_text() != first  # replaced
    (out / "notes.txt").write_text("mine")
    with pytest.raises(OutputExistsError, match=r"files gcsim did not write \(notes.txt\)"):
        run_scenario(TINY, out, overwrite=True)
    assert (out / "notes.txt").read_text() == "mine"


def test_overwrite_refuses_a_directory_of_another_kind(tmp_path, reference_sweep):
    _, sweep_dir = reference_sweep
    with pytest.raises(OutputExistsError, match="a gcsim sweep directory"):
        gcsim.io.check_output_dir(sweep_dir, overwrite=True, kind="run")
    assert (sweep_dir / "sweep.json").is_file()


# --- --out checked before anything runs ------------------------------------------------------


def _run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([*GCSIM, *args], cwd=cwd, capture_output=True, text=True, timeout=60)


def _assert_one_line_error(done: subprocess.CompletedProcess, expected: str) -> None:
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip() == expected
    assert "Traceback" not in done.stderr


@pytest.fixture
def scenario_file(tmp_path: Path) -> Path:
    path = tmp_path / "s.yaml"
    path.write_text(SMALL_FILE)
    return path


def test_out_in_the_working_directory_is_refused(tmp_path, scenario_file):
    for target in (".", str(tmp_path), ".."):
        done = _run_cli("run", "s.yaml", "--out", target, "--overwrite", cwd=tmp_path)
        assert done.returncode == 2
        assert "is the working directory" in done.stderr and done.stderr.count("\n") == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.yaml"]


def test_out_on_a_mount_point_is_refused(tmp_path, scenario_file):
    mount = Path("/dev/shm")
    if not os.path.ismount(mount):
        pytest.skip("no mount point to try")
    done = _run_cli("run", str(scenario_file), "--out", str(mount), "--overwrite", cwd=tmp_path)
    _assert_one_line_error(
        done,
        f"{mount}: is a mount point, which a rename cannot replace: choose a directory inside it",
    )


@pytest.mark.parametrize("command", ["run", "sweep"])
def test_out_under_a_regular_file_is_refused(tmp_path, scenario_file, command):
    (tmp_path / "afile").write_text("")
    file = str(scenario_file) if command == "run" else str(write_sweep(tmp_path))
    done = _run_cli(command, file, "--out", "afile/sub", cwd=tmp_path)
    _assert_one_line_error(done, "afile/sub: afile is a file, not a directory")


@pytest.fixture
def read_only_dir(tmp_path: Path):
    """A directory nobody, not even root, can write in (chattr +i as root, chmod otherwise)."""
    path = tmp_path / "locked"
    path.mkdir()
    if os.geteuid() == 0:
        if subprocess.run(["chattr", "+i", str(path)], capture_output=True).returncode != 0:
            pytest.skip("running as root and chattr +i is not available")
        yield path
        subprocess.run(["chattr", "-i", str(path)], check=True)
    else:
        path.chmod(0o555)
        yield path
        path.chmod(0o755)


@pytest.mark.parametrize("command", ["run", "sweep"])
def test_a_non_writable_out_is_refused(tmp_path, scenario_file, read_only_dir, command):
    file = str(scenario_file) if command == "run" else str(write_sweep(tmp_path))
    done = _run_cli(command, file, "--out", "locked/out", cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("locked/out: cannot write in locked: ")
    assert done.stderr.count("\n") == 1


def test_a_failed_final_rename_keeps_the_results_and_says_where(tmp_path, monkeypatch):
    real_replace = os.replace

    def busy(src, dst):
        if Path(dst).name == "out":
            raise OSError(errno.EBUSY, "Device or resource busy")
        real_replace(src, dst)

    monkeypatch.setattr(gcsim.io.os, "replace", busy)
    with pytest.raises(ResultsKeptError, match="Device or resource busy") as caught:
        run_scenario(TINY, tmp_path / "out")
    kept = caught.value.kept
    assert str(kept) in str(caught.value)
    assert (kept / "run.json").is_file() and (kept / MARKER).is_file()
    assert not (kept / LOCK).exists()  # the next run must not take it for a stale one
    monkeypatch.setattr(gcsim.io.os, "replace", real_replace)
    assert clean_stale(tmp_path) == [f"{kept}: left in place: a temporary directory with no {LOCK}"]
    assert kept.exists()


# --- bad command-line values: one line, exit 2, nothing run ----------------------------------


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["run", "s.yaml", "--snapshots-every", "nan"], "--snapshots-every: must be a finite"),
        (["run", "s.yaml", "--snapshots-every", "inf"], "--snapshots-every: must be a finite"),
        (["run", "s.yaml", "--snapshots-every", "0"], "--snapshots-every: must be positive"),
        (["sweep", "SWEEP", "--scheduler", "notaurl"], "--scheduler notaurl: not an address"),
        (["sweep", "SWEEP", "--scheduler", "http://h:1"], "unknown protocol 'http'"),
        (["analyze", "s.yaml"], "s.yaml: is a file, not a sweep directory"),
        (["analyze", "missing"], "missing: does not exist"),
    ],
)
def test_bad_command_line_values_are_one_line_errors(tmp_path, scenario_file, args, expected):
    sweep = write_sweep(tmp_path)
    args = [str(sweep) if a == "SWEEP" else a for a in args]
    done = _run_cli(*args, "--out", "o", cwd=tmp_path) if args[0] != "analyze" else None
    done = done or _run_cli(*args, cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert expected in done.stderr and done.stderr.count("\n") == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "o").exists()


def test_a_huge_sweep_design_is_refused_before_it_is_drawn(tmp_path):
    factors = {
        "tumor.pdl1_cps": {"range": [1, 50], "steps": 1000},
        "vessels.density": {"range": [0.01, 0.05], "steps": 1000},
        "stroma.fraction": {"range": [0.1, 0.5], "steps": 1000},
    }
    sweep = write_sweep(tmp_path, factors=factors, replicates=1)
    started = time.monotonic()
    done = _run_cli("sweep", str(sweep), "--out", "o", cwd=tmp_path)
    assert time.monotonic() - started < 30  # it used to grow by 60 MB/s until killed
    assert done.returncode == 2
    assert done.stderr.startswith(f"{sweep}:")
    assert "design: this design has 1,000,000,000 runs" in done.stderr
    # beyond the ceiling no limit can be raised: a plan that large is never drawn
    assert "above the limit of 100,000 and above 1,000,000" in done.stderr
    assert "split it into several sweeps" in done.stderr
    assert not (tmp_path / "o").exists()
    small = write_sweep(tmp_path, name="eight")  # 8 runs: over a limit of 5, under one of 8
    over = _run_cli("sweep", str(small), "--out", "o", "--max-runs", "5", cwd=tmp_path)
    assert over.returncode == 2 and "limit of 5 (raise it with --max-runs" in over.stderr
    ceiling = _run_cli("sweep", str(small), "--out", "o", "--max-runs", "2000000", cwd=tmp_path)
    assert ceiling.returncode == 2 and "--max-runs" in ceiling.stderr


# --- a full disk -----------------------------------------------------------------------------


def _disk_full(*_args, **_kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


def test_a_full_disk_during_a_run_leaves_the_previous_results(tmp_path, monkeypatch):
    out = tmp_path / "out"
    run_scenario(TINY, out)
    before = (out / "run.json").read_text()
    monkeypatch.setattr("gcsim.runner.write_parquet", _disk_full)
    with pytest.raises(OSError, match="No space left"):
        run_scenario(TINY.model_copy(update={"seed": 9}), out, overwrite=True)
    assert (out / "run.json").read_text() == before  # the old run is whole and untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no temporary directory


def test_a_full_disk_during_a_sweep_keeps_finished_runs_for_resume(tmp_path, monkeypatch):
    import gcsim.sweep.execute as execute

    sweep_file = write_sweep(tmp_path)
    sweep = load_sweep(sweep_file)
    out = tmp_path / "out"
    real, calls = execute.write_json, []

    def fills_up(path, data):
        calls.append(path)
        if len(calls) > 4:  # sweep.json, then three runs' results, then the disk is full
            _disk_full()
        real(path, data)

    monkeypatch.setattr(execute, "write_json", fills_up)
    with pytest.raises(OSError, match="No space left"):
        run_sweep(sweep, plan_runs(sweep), out, InProcess())
    assert len(list((out / "runs").glob("*.json"))) == 3
    monkeypatch.setattr(execute, "write_json", real)
    summary = run_sweep(sweep, plan_runs(sweep), out, InProcess(), resume=True)
    assert (summary.ok, summary.skipped) == (8, 3)
    reference = tmp_path / "reference"
    run_sweep(sweep, plan_runs(sweep), reference, InProcess())
    assert_same_results(reference, out)
