"""Each benchmark runs at a tiny size and returns a well-formed result.

These keep the benchmarks from rotting when the model changes; they assert structure only
(rates positive, ratio computed, dynamics compared), never speed: timings on a shared machine are
not test outcomes.
"""

from __future__ import annotations

import io
import math
import sys
from pathlib import Path

import pytest
from rich.console import Console

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

import bench_scaling
import bench_startup
import bench_sweep
import bench_trial
import bench_vs_mesa
import run_all
from benchlib import machine_info, print_tables


def _renders(tables) -> str:
    out = io.StringIO()
    print_tables(tables, Console(file=out, width=200))
    return out.getvalue()


def test_vs_mesa_runs_both_sides_and_compares_their_dynamics():
    cfg = bench_vs_mesa.Config(
        width=16,
        height=16,
        tumour_radius=4.0,
        steps=3,
        seeds=(1, 2),
        mesa_repeats=1,
        engine_repeats=2,
    )
    result = bench_vs_mesa.run(cfg)
    for side in ("mesa", "engine"):
        assert result[side]["steps"] == cfg.steps * len(cfg.seeds)
        assert result[side]["agent_steps"] > 0
        assert result[side]["agent_steps_per_s"] > 0
        assert result[side]["tumour_agent_steps_per_s"] > 0
        assert result[side]["immune_agent_steps_per_s"] > 0
    for key in ("ratio", "ratio_tumour", "ratio_immune"):
        assert math.isfinite(result[key]) and result[key] > 0
    assert set(result["comparison"]) == set(bench_vs_mesa.METRICS)
    for metric in result["comparison"].values():
        assert {"mesa_mean", "engine_mean", "z", "ok"} <= set(metric)
    assert isinstance(result["similar"], bool)
    assert len(result["runs"]) == 2 * len(cfg.seeds)
    assert "ratio" in _renders(bench_vs_mesa.tables(result))


def test_vs_mesa_reports_each_lattice_size():
    cfg = bench_vs_mesa.Config(steps=2, seeds=(1,), mesa_repeats=1, engine_repeats=1)
    result = bench_vs_mesa.run_sizes([16, 20], cfg)
    assert [r["config"]["width"] for r in result["by_size"]] == [16, 20]
    assert [r["config"]["tumour_radius"] for r in result["by_size"]] == [4.0, 5.0]
    assert all(r["ratio"] > 0 for r in result["by_size"])
    rendered = _renders(bench_vs_mesa.tables_by_size(result))
    assert "by lattice size" in rendered and "20²" in rendered


def test_engine_side_is_reproducible_from_its_seed():
    cfg = bench_vs_mesa.Config(width=16, height=16, tumour_radius=4.0, steps=4)
    rules = bench_vs_mesa.core_rules()
    init = bench_vs_mesa.initial_state(cfg, 5)
    a = bench_vs_mesa.run_engine(init, rules, cfg.steps, 5)
    b = bench_vs_mesa.run_engine(init, rules, cfg.steps, 5)
    assert a.counts == b.counts


@pytest.mark.parametrize("subprocesses", [False, True])
def test_scaling_measures_rates_memory_and_phases(subprocesses):
    result = bench_scaling.run([24], [2.0], subprocesses=subprocesses)
    (row,) = result["sizes"]
    assert row["sites"] == 24 * 24 and row["steps"] == 2
    assert row["site_steps_per_s"] > 0 and row["s_per_sim_day"] > 0
    assert row["state_bytes_per_site"] > 0 and row["peak_rss_bytes"] > 0
    assert {"oxygen", "cytokines", "vessels", "tumor", "immune", "other"} <= set(row["phases_s"])
    assert row["oxygen_sweeps_per_step"] >= 1
    assert "site-steps/s" in _renders(bench_scaling.tables(result))


def test_startup_times_each_phase_of_a_warm_start():
    result = bench_startup.run(size=80, warm_runs=1, cold_runs=0, bare_runs=1)
    warm = result["warm"]["median"]
    assert set(bench_startup.PHASES) <= set(warm)
    assert all(warm[phase] >= 0 for phase in bench_startup.PHASES)
    assert warm["total"] >= warm["first_step"] > 0
    assert "warm" in _renders(bench_startup.tables(result))


def test_run_all_rejects_unknown_benchmarks_and_describes_the_machine():
    with pytest.raises(ValueError, match="unknown benchmark"):
        run_all.run_all(["nope"])
    info = machine_info()
    assert info["cpu_count"] >= 1 and "load_average_1min" in info


def test_trial_benchmark_compares_executors_on_the_same_patients(tmp_path):
    from trial_helpers import write_trial

    result = bench_trial.run(write_trial(tmp_path, 2), patients=2, follow_up_days=21, dask=False)
    assert set(result["results"]) == {"1 worker", "2 workers"}
    assert result["identical_tables"] is True
    for r in result["results"].values():
        assert r["patient_arm_runs"] == 4 and r["patients_per_hour"] > 0
    assert "speed-up" in _renders(bench_trial.tables(result))


def test_sweep_benchmark_times_each_executor():
    result = bench_sweep.run(runs=4, size=30, days=0.25)  # 4: overhead needs two gaps
    assert {r["workers"] for r in result["results"]} == {0, 1, 2}
    assert result["speedup_2_over_1"] > 0
    assert "2 workers / 1 worker" in _renders(bench_sweep.tables(result))
