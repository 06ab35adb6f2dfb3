"""Patient mode: time a 3-lesion patient for 24 weeks, and (``--checks``) the bridge's figures.

    PYTHONPATH=src .venv/bin/python benchmarks/patient.py             # timing, one core
    PYTHONPATH=src .venv/bin/python benchmarks/patient.py --checks    # + bridge checks (~10 min)

Timing: ``scenarios/patient/chemo_ici.yaml`` (a 30 mm primary with a margin and a core window,
two liver metastases with one margin window each: four 80 × 80 windows), arm
``xelox_nivolumab``, replicate 0, 24 weeks, in this process. Reported: wall seconds, seconds per
simulated patient-week, and the share spent stepping windows vs in the lesion models (the rest
is start-up: building the windows' models).

Checks: (1) the bridge against a fully resolved lesion — a 2.5 mm disc through the bridge vs on
a 300 × 300 lattice, day-60 diameter, untreated and under nivolumab; (2) the exchange interval
— the same patient with 6 h and 3 h exchanges, week-24 sum of the target lesions' diameters,
mean over ``--replicates`` replicates (run-to-run spread is larger than a single run can
resolve).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SCENARIO = REPO / "scenarios" / "patient" / "chemo_ici.yaml"
ARM = "xelox_nivolumab"


def timing(days: float | None = None) -> dict[str, float]:
    """Wall time of one patient (24 weeks, or ``days``) and its split."""
    from gcsim.patient.simulate import PatientModel
    from gcsim.runner import replicate_seed
    from gcsim.scenario import load_scenario

    scenario = load_scenario(SCENARIO)
    if days is not None:  # model_copy: the scenario's later doses simply never come
        scenario = scenario.model_copy(
            update={"time": scenario.time.model_copy(update={"days": days})}
        )
    started = time.perf_counter()
    model = PatientModel(scenario, ARM, replicate_seed(scenario.seed, 0))
    model.run()
    wall = time.perf_counter() - started
    weeks = scenario.time.days / 7.0
    return {
        "wall_s": wall,
        "weeks": weeks,
        "s_per_patient_week": wall / weeks,
        "windows_share": model.seconds["windows"] / wall,
        "lesions_share": model.seconds["lesions"] / wall,
        "windows": sum(len(lesion.windows) for lesion in model.lesions),
    }


NIVOLUMAB = {
    "type": "checkpoint_inhibitor",
    "drug": "nivolumab",
    "dose": {"value": 240, "unit": "mg"},
    "schedule": {"start_day": 0, "interval_days": 14, "doses": 5},
}


def bridged_and_resolved(arm: str, treatments: list, days: float) -> dict[str, float]:
    """One lesion two ways: a 2.5 mm disc fully resolved on a 300 × 300 lattice, and the same
    lesion through the bridge (a margin and a core window of 60 sites; the lymph node sees the
    lesion's antigen as the section's, scale 1; no displacement growth, which the lattice does
    not have; no window spin-up, since the resolved lattice starts from the same initial
    condition as the windows). Diameters (mm) at day 0 and day ``days``."""
    from gcsim.model import GastricTumorModel
    from gcsim.patient.lesion import LesionGeometry
    from gcsim.patient.simulate import PatientModel
    from gcsim.scenario.schema import Scenario

    full = GastricTumorModel(
        Scenario.model_validate(
            {
                "name": "full",
                "domain": {"width": 300, "height": 300},
                "tumor": {"initial_radius_um": 1250.0},
                "time": {"days": days},
                "arms": {arm: treatments},
            }
        ),
        rng=1,
    )
    geometry = LesionGeometry(2, 1.0 / (full.site_um / 1000.0) ** 2)
    start = geometry.diameter_mm(full.metrics["tumor_cells"])
    full.run()
    lesion = {
        "name": "L",
        "site": "x",
        "target": False,
        "diameter_mm": start,
        "windows": [{"region": "margin"}, {"region": "core"}],
    }
    scenario = Scenario.model_validate(
        {
            "name": "bridge",
            "time": {"days": days},
            "arms": {arm: treatments},
            "parameters": {"patient.node_antigen_scale": 1.0, "patient.displacement_growth": 0.0},
            "patient": {"bridge": {"window_sites": 60, "spinup_days": 0}, "lesions": [lesion]},
        }
    )
    bridged = PatientModel(scenario, arm, 1, geometry=geometry)
    bridged.run()
    diameters = bridged.lesions_table("x", 0)["diameter_mm"]
    return {
        "start": start,
        "bridged_start": float(diameters.iloc[0]),
        "bridged": float(diameters.iloc[-1]),
        "full": geometry.diameter_mm(full.metrics["tumor_cells"]),
    }


def bridge_vs_full(days: float = 60.0) -> list[tuple[str, float, float]]:
    """(arm, bridged day-``days`` diameter, fully resolved one) for untreated and nivolumab."""
    out = []
    for arm, treatments in (("untreated", []), ("nivolumab", [NIVOLUMAB])):
        d = bridged_and_resolved(arm, treatments, days)
        out.append((arm, d["bridged"], d["full"]))
    return out


def _week24_sld(hours: str, replicate: int) -> float:
    """Week-24 sum of target diameters of the timed patient, ``hours`` exchanges."""
    from gcsim.patient.simulate import PatientModel
    from gcsim.runner import replicate_seed
    from gcsim.scenario import load_scenario

    scenario = load_scenario(SCENARIO, [f"patient.bridge.exchange_hours={hours}"])
    model = PatientModel(scenario, ARM, replicate_seed(scenario.seed, replicate))
    model.run()
    table = model.lesions_table("x", 0)
    last = table[(table["time_days"] == table["time_days"].max()) & table["target"]]
    return float(last["diameter_mm"].sum())


def exchange_sensitivity(replicates: int, workers: int) -> dict[str, list[float]]:
    """Week-24 sums of target diameters at 6 h and at 3 h exchanges, per replicate (a single
    run's windows diverge stochastically between the two, so the means are compared)."""
    from concurrent.futures import ProcessPoolExecutor

    jobs = [(hours, r) for hours in ("6", "3") for r in range(replicates)]
    with ProcessPoolExecutor(workers) as pool:
        values = list(pool.map(_week24_sld, *zip(*jobs, strict=True)))
    out: dict[str, list[float]] = {"6": [], "3": []}
    for (hours, _), value in zip(jobs, values, strict=True):
        out[hours].append(value)
    return out


def _mean_se(values: list[float]) -> tuple[float, float]:
    n = len(values)
    mean = sum(values) / n
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else math.nan
    return mean, sd / math.sqrt(n)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checks", action="store_true", help="also run the bridge checks")
    parser.add_argument("--days", type=float, default=None, help="timing horizon (default 168)")
    parser.add_argument("--replicates", type=int, default=4, help="for the exchange check")
    parser.add_argument("--workers", type=int, default=2, help="processes for the checks")
    args = parser.parse_args(argv)
    import gcsim

    print(f"gcsim from {Path(gcsim.__file__).parent}")
    t = timing(args.days)
    print(
        f"3-lesion patient ({t['windows']:.0f} windows), {t['weeks']:.0f} weeks: "
        f"{t['wall_s']:.1f} s = {t['s_per_patient_week']:.2f} s per patient-week; "
        f"windows {100 * t['windows_share']:.1f} %, lesion models {100 * t['lesions_share']:.2f} %"
    )
    if args.checks:
        for arm, bridged, full in bridge_vs_full():
            error = 100 * (bridged - full) / full
            print(
                f"bridge vs full, {arm}, day 60: {bridged:.3f} mm vs {full:.3f} mm ({error:+.1f} %)"
            )
        sld = exchange_sensitivity(args.replicates, args.workers)
        (six, se6), (three, se3) = _mean_se(sld["6"]), _mean_se(sld["3"])
        change = 100 * (three - six) / six
        print(
            f"exchange 6 h vs 3 h, week-24 sum of target diameters over {args.replicates} "
            f"replicates: {six:.2f} ± {se6:.2f} mm vs {three:.2f} ± {se3:.2f} mm (mean ± SE; "
            f"{change:+.1f} %); per replicate 6 h {[round(v, 2) for v in sld['6']]}, "
            f"3 h {[round(v, 2) for v in sld['3']]}"
        )
        if not math.isfinite(change):
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
