"""A real Dask cluster: `dask scheduler` and two `dask worker` processes on 127.0.0.1.

The sweep goes through ``gcsim sweep --scheduler`` exactly as a user runs it, and its results
must be identical, bit for bit, to the local process pool's.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sweep_helpers import SLOWER, assert_same_results, write_sweep

DASK = Path(sys.executable).with_name("dask")
START_TIMEOUT_S = 60


def _start(args: list[str], log: Path) -> subprocess.Popen:
    handle = log.open("w")
    return subprocess.Popen(
        [str(DASK), *args], stdout=handle, stderr=subprocess.STDOUT, start_new_session=True
    )


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)  # its own session: the nanny and its worker
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@pytest.fixture
def cluster(cluster_processes):
    """Scheduler and two single-threaded workers; yields the scheduler's address."""
    return cluster_processes[0]


@pytest.fixture
def cluster_processes(tmp_path):
    """Scheduler and two single-threaded workers: (address, [scheduler, worker 0, worker 1])."""
    scheduler_file = tmp_path / "scheduler.json"
    processes = [
        _start(
            ["scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
             "--scheduler-file", str(scheduler_file)],
            tmp_path / "scheduler.log",
        )
    ]  # fmt: skip
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not scheduler_file.exists():
            assert processes[0].poll() is None, (tmp_path / "scheduler.log").read_text()
            assert time.monotonic() < deadline, "the scheduler did not start"
            time.sleep(0.1)
        address = json.loads(scheduler_file.read_text())["address"]
        for i in range(2):
            processes.append(
                _start(
                    ["worker", address, "--nthreads", "1", "--nworkers", "1",
                     "--host", "127.0.0.1", "--no-dashboard", "--name", f"w{i}",
                     "--local-directory", str(tmp_path / f"w{i}")],
                    tmp_path / f"worker{i}.log",
                )
            )  # fmt: skip
        from distributed import Client

        with Client(address, timeout="30s") as client:
            client.wait_for_workers(2, timeout=START_TIMEOUT_S)
        yield address, processes
    finally:
        for process in reversed(processes):
            _stop(process)


def _gcsim(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "gcsim.cli", *args], capture_output=True, text=True, timeout=300
    )


def test_dask_cluster_gives_the_local_pool_results(tmp_path, cluster):
    sweep = write_sweep(tmp_path)
    local = _gcsim("sweep", str(sweep), "--out", str(tmp_path / "local"), "--workers", "2")
    assert local.returncode == 0, local.stderr
    remote = _gcsim("sweep", str(sweep), "--out", str(tmp_path / "dask"), "--scheduler", cluster)
    assert remote.returncode == 0, remote.stderr
    assert "Dask cluster" in remote.stdout
    assert "warning" not in remote.stderr  # same versions on the workers
    assert_same_results(tmp_path / "local", tmp_path / "dask")
    hosts = {json.loads(p.read_text())["host"] for p in (tmp_path / "dask" / "runs").glob("*.json")}
    assert len(hosts) == 2  # both workers took runs (8 runs, one thread each)


def test_unreachable_scheduler_raises_oserror():
    # The CLI turns this OSError into a one-line user error (exit 2) before creating --out.
    from gcsim.sweep.execute import DaskCluster

    with pytest.raises(OSError):
        DaskCluster("tcp://127.0.0.1:9", timeout_s=1)


def test_a_lost_dask_worker_costs_no_result(tmp_path, cluster_processes):
    """SIGKILL of one worker mid-sweep (its nanny too): the scheduler gives its runs to the
    other, and the sweep finishes with one result per run, identical to a local sweep's."""
    address, processes = cluster_processes
    factors = {"tumor.pdl1_cps": {"levels": [1, 10, 40]}, "immune.phenotype": {"levels": [
        "inflamed", "desert"]}}  # fmt: skip
    sweep = write_sweep(tmp_path, factors=factors, name="lost", fixed=SLOWER)
    out = tmp_path / "dask"
    command = [sys.executable, "-m", "gcsim.cli", "sweep", str(sweep), "--out", str(out)]
    running = subprocess.Popen(
        [*command, "--scheduler", address],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while len(list(out.glob("runs/*.json"))) < 2 and time.monotonic() < deadline:
        assert running.poll() is None, running.communicate()
        time.sleep(0.02)
    finished = len(list(out.glob("runs/*.json")))
    os.killpg(processes[2].pid, signal.SIGKILL)  # worker w1 and its nanny, without warning
    assert running.poll() is None and finished < 12, "the kill must land mid-sweep"
    _, stderr = running.communicate(timeout=300)
    assert running.returncode == 0, stderr
    assert len(list(out.glob("runs/*.json"))) == 12
    local = _gcsim("sweep", str(sweep), "--out", str(tmp_path / "local"), "--workers", "2")
    assert local.returncode == 0, local.stderr
    assert_same_results(tmp_path / "local", out)
