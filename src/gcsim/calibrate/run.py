"""The calibration pipeline: stages, the design store, resuming, and the output files.

Stages, each run by ``gcsim calibrate FILE --stage S`` (``all``: in order):

``design``
    Wave 1: a scrambled Sobol' (or Latin hypercube) design of ``design.samples`` points in the
    prior, ``design.replicates`` full runs each.
``emulate``
    A GP emulator per target readout (Q² by k-fold), then history matching: each later wave
    runs ``history_matching.samples`` points drawn from the space the emulators so far find
    non-implausible, and refits. Writes ``emulator.json``.
``abc``
    ABC-SMC on the last emulator within the non-implausible space; writes ``abc.db``,
    ``posterior.json``, ``posterior.md``, ``parameters.yaml``, ``marginals.png``, ``pairs.png``.
``confirm``
    ``confirm.replicates`` full runs at the chosen parameter set (the posterior's component-wise
    median, or, if that is ruled out, the particle nearest to it); adds them to the posterior
    files and draws ``fit.png``.

The store, ``<calibration folder>/<file stem>/design.parquet``, holds one row per full run
(stage, point, replicate, seed, the point's key, parameter values, readouts): the compact record
from which the emulators are refitted, and the reason a resumed calibration never reruns a
finished point. A point's key hashes the simulator's identity, the seed, the point id and the
parameter values, so a changed scenario or point is simulated afresh. Every file is written
atomically (a temporary file renamed into place).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from gcsim.calibrate.emulator import Emulator, fit_emulator
from gcsim.calibrate.history import non_implausible, wave_points
from gcsim.calibrate.simulator import Simulator, point_key
from gcsim.calibrate.spec import Calibration
from gcsim.io import write_json, write_parquet, write_text

Stage = Literal["design", "emulate", "abc", "confirm", "all"]
STAGES: tuple[str, ...] = ("design", "emulate", "abc", "confirm")
STORE_FILE = "design.parquet"
NON_IDENTIFIABLE = 0.8  # posterior 90 % interval ≥ this fraction of the prior's: not identified


class CalibrationError(Exception):
    """A calibration that cannot go on (outputs in the way, a stage missing, nothing fits)."""


@dataclass
class Context:
    cal: Calibration
    out: Path
    simulator: Simulator
    resume: bool
    batch_points: int | None
    log: Callable[[str], None]
    emulators: list[Emulator] = field(default_factory=list)
    waves: list[dict[str, Any]] = field(default_factory=list)

    @property
    def store(self) -> Path:
        return self.cal.store / STORE_FILE


# --- the store -------------------------------------------------------------------------------


def read_store(path: Path) -> pd.DataFrame:
    """The design store (empty if missing)."""
    if not path.is_file():
        return pd.DataFrame(columns=["stage", "point", "replicate", "key", "status"])
    return pd.read_parquet(path)


def _point_offsets(cal: Calibration) -> list[int]:
    """First point id of each wave, then of the confirmation runs."""
    n1 = cal.spec.design.samples
    later = cal.spec.history_matching.samples or n1
    waves = cal.spec.history_matching.waves
    return [0] + [n1 + w * later for w in range(waves)]


def _frame(cal: Calibration, unit: np.ndarray, first: int) -> pd.DataFrame:
    values = cal.from_unit(unit)
    frame = pd.DataFrame(values, columns=cal.paths)
    frame.index = pd.RangeIndex(first, first + len(frame), name="point")
    return frame


def ensure_runs(
    ctx: Context, stage: str, unit: np.ndarray, first: int, replicates: int
) -> pd.DataFrame:
    """The store's rows of these points, simulating those it lacks (in batches, stored after
    each); a point counts as done when all its replicates are stored, failed ones included."""
    cal, sim = ctx.cal, ctx.simulator
    points = _frame(cal, unit, first)
    keys = {p: point_key(sim.identity, cal.seed, p, row.to_dict()) for p, row in points.iterrows()}
    table = read_store(ctx.store)
    counts = table.groupby("key").size().to_dict() if len(table) else {}
    missing = [p for p, k in keys.items() if counts.get(k, 0) < replicates]
    done = len(points) - len(missing)
    if missing:
        ctx.log(
            f"{stage}: {len(points)} points × {replicates} replicate(s); "
            f"{done} points done, simulating {len(missing)}"
        )
    else:
        ctx.log(f"{stage}: {len(points)} points × {replicates} replicate(s), all done")
    step = ctx.batch_points or len(missing) or 1
    for start in range(0, len(missing), step):
        batch = points.loc[missing[start : start + step]]
        result = sim(batch, replicates, cal.seed)
        rows = _store_rows(cal, stage, batch, result, keys, replicates)
        table = read_store(ctx.store)
        if len(table):
            # a point id's new runs supersede its old ones (other values: targets changed)
            table = table[~table["point"].isin(rows["point"].unique())]
        table = pd.concat([t for t in (table, rows) if len(t)], ignore_index=True)
        ctx.store.parent.mkdir(parents=True, exist_ok=True)
        write_parquet(ctx.store, table.sort_values(["point", "replicate"], kind="stable"))
    table = read_store(ctx.store)
    return table[table["key"].isin(set(keys.values()))].reset_index(drop=True)


def _store_rows(
    cal: Calibration,
    stage: str,
    batch: pd.DataFrame,
    result: pd.DataFrame,
    keys: dict[int, str],
    replicates: int,
) -> pd.DataFrame:
    from gcsim.sweep.design import run_seed

    readouts = [t.readout for t in cal.targets]
    merged = result.merge(batch, left_on="point", right_index=True, how="left")
    missing = set(readouts) - set(result.columns)
    if missing:
        raise CalibrationError(f"the simulator returned no {', '.join(sorted(missing))}")
    rows = pd.DataFrame(
        {
            "stage": stage,
            "point": merged["point"].astype(int),
            "replicate": merged["replicate"].astype(int),
            "key": [keys[int(p)] for p in merged["point"]],
            "seed": [
                str(run_seed(cal.seed, int(p), int(r)))
                for p, r in zip(merged["point"], merged["replicate"], strict=True)
            ],
            "status": merged.get("status", "ok"),
            "error": merged.get("error", None),
        }
    )
    unit = cal.to_unit(merged[cal.paths].to_numpy(dtype=float))
    for i, path in enumerate(cal.paths):
        rows[path] = merged[path].to_numpy(dtype=float)
        rows[f"unit:{path}"] = unit[:, i]
    for name in (c for c in result.columns if c not in ("point", "replicate", "status", "error")):
        rows[name] = pd.to_numeric(merged[name], errors="coerce").to_numpy(dtype=float)
    rows["error"] = rows["error"].astype(object).where(rows["error"].notna(), None)
    return rows


# --- stages ----------------------------------------------------------------------------------


def design_unit(cal: Calibration) -> np.ndarray:
    """Wave 1's points in prior-quantile space: scrambled Sobol' or Latin hypercube, seeded."""
    from scipy.stats import qmc

    d, n = len(cal.priors), cal.spec.design.samples
    rng = np.random.default_rng(np.random.SeedSequence(cal.seed, spawn_key=(3,)))
    if cal.spec.design.method == "sobol":
        return qmc.Sobol(d, scramble=True, seed=rng).random_base2(int(np.log2(n)))
    return qmc.LatinHypercube(d, seed=rng).random(n)


def stage_design(ctx: Context) -> pd.DataFrame:
    first = _point_offsets(ctx.cal)[0]
    unit = design_unit(ctx.cal)
    return ensure_runs(ctx, "wave1", unit, first, ctx.cal.spec.design.replicates)


def _fit(ctx: Context, rows: pd.DataFrame) -> Emulator:
    cal = ctx.cal
    ok = rows[rows["status"] == "ok"]
    if ok.empty:
        raise CalibrationError("every design run failed: nothing to emulate (see design.parquet)")
    unit = ok[[f"unit:{p}" for p in cal.paths]].to_numpy(dtype=float)
    readouts = ok[[t.readout for t in cal.targets]]
    return fit_emulator(
        unit,
        readouts,
        ok["point"].to_numpy(),
        q2_min=cal.spec.emulator.q2_min,
        folds=cal.spec.emulator.folds,
        seed=cal.seed,
    )


def stage_emulate(ctx: Context, simulate_waves: bool = True) -> list[Emulator]:
    """Fit wave by wave; with ``simulate_waves`` False, a missing wave is an error instead."""
    cal = ctx.cal
    hm = cal.spec.history_matching
    offsets = _point_offsets(cal)
    d = len(cal.priors)
    replicates = cal.spec.design.replicates
    later = hm.samples or cal.spec.design.samples
    ctx.emulators, ctx.waves = [], []
    rows = _complete(ctx, "wave1", design_unit(cal), offsets[0], "design")
    for wave in range(1, hm.waves + 1):
        emulator = _fit(ctx, rows)
        ctx.emulators.append(emulator)
        if not emulator.accepted:
            ctx.waves.append(_wave_record(wave, rows, emulator, None))
            _write_emulator_json(ctx)
            shown = ", ".join(f"{n} {e.q2:.2f}" for n, e in emulator.readouts.items())
            raise CalibrationError(
                f"wave {wave}: no readout's emulator reached Q² ≥ {emulator.q2_min} ({shown}); "
                "enlarge the design, add replicates or narrow the priors"
            )
        unit, fraction = wave_points(
            ctx.emulators, cal.targets, hm.cutoff, later, d, cal.seed, wave
        )
        ctx.waves.append(_wave_record(wave, rows, emulator, fraction))
        ctx.log(_wave_line(wave, emulator, fraction))
        if fraction == 0:
            _write_emulator_json(ctx)
            raise CalibrationError(
                f"wave {wave}: no parameter set is non-implausible (max I ≤ {hm.cutoff}): the "
                "targets cannot be reached inside the priors, or their sd and the model "
                "discrepancy are too small"
            )
        if wave == hm.waves:
            break
        stage = f"wave{wave + 1}"
        if simulate_waves:
            new = ensure_runs(ctx, stage, unit, offsets[wave], replicates)
        else:
            new = _complete(ctx, stage, unit, offsets[wave], "emulate")
        rows = pd.concat([rows, new], ignore_index=True)
    _write_emulator_json(ctx)
    return ctx.emulators


def _complete(ctx: Context, stage: str, unit: np.ndarray, first: int, needs: str) -> pd.DataFrame:
    """The stored rows of these points; an error naming the stage to run if any is missing."""
    cal = ctx.cal
    points = _frame(cal, unit, first)
    keys = {
        point_key(ctx.simulator.identity, cal.seed, p, r.to_dict()) for p, r in points.iterrows()
    }
    table = read_store(ctx.store)
    rows = table[table["key"].isin(keys)] if len(table) else table
    have = rows.groupby("key").size() if len(rows) else pd.Series(dtype=int)
    if len(have) < len(keys) or (have < cal.spec.design.replicates).any():
        raise CalibrationError(
            f"{ctx.store}: {stage} is not complete ({len(have)} of {len(keys)} points): "
            f"run --stage {needs} first"
        )
    return rows.reset_index(drop=True)


def _wave_record(wave: int, rows: pd.DataFrame, emulator: Emulator, fraction: float | None) -> dict:
    return {
        "wave": wave,
        "points": int(rows["point"].nunique()),
        "runs": len(rows),
        "failed_runs": int((rows["status"] != "ok").sum()),
        "non_implausible_fraction": fraction,
        **emulator.summary(),
    }


def _wave_line(wave: int, emulator: Emulator, fraction: float) -> str:
    q2 = ", ".join(
        f"{n} {e.q2:.3f}{'' if e.accepted else ' (rejected)'}" for n, e in emulator.readouts.items()
    )
    return f"wave {wave}: Q² {q2}; non-implausible: {fraction:.1%} of the prior space"


def _write_emulator_json(ctx: Context) -> None:
    cal = ctx.cal
    data = {
        "calibration": cal.spec.name,
        "q2_min": cal.spec.emulator.q2_min,
        "folds": cal.spec.emulator.folds,
        "cutoff": cal.spec.history_matching.cutoff,
        "q2_rule": "Q² = 1 − PRESS/SS, k-fold by design point, on the points' replicate means",
        "waves": ctx.waves,
        "final": ctx.waves[-1] if ctx.waves else None,
    }
    ctx.out.mkdir(parents=True, exist_ok=True)
    write_json(ctx.out / "emulator.json", data)


def _abc_digest(ctx: Context, rows: pd.DataFrame) -> str:
    cal = ctx.cal
    readouts = [t.readout for t in cal.targets]
    table = rows.sort_values(["point", "replicate"])[["key", "replicate", *readouts]]
    canonical = json.dumps(
        {
            "runs": table.astype(str).to_numpy().tolist(),
            "targets": [t.__dict__ for t in cal.targets],
            # more generations or a smaller ε continue the same history
            "abc": cal.spec.abc.model_dump(exclude={"generations", "min_epsilon"}),
            "emulator": cal.spec.emulator.model_dump(),
            "history_matching": cal.spec.history_matching.model_dump(),
            "priors": [p.__dict__ for p in cal.priors],
            "seed": cal.seed,
        },
        sort_keys=True,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def stage_abc(ctx: Context) -> dict[str, Any]:
    from gcsim.calibrate.abc import run_abc

    cal = ctx.cal
    if not ctx.emulators:
        stage_emulate(ctx, simulate_waves=False)
    table = read_store(ctx.store)
    rows = table[table["stage"].str.startswith("wave")]
    digest = _abc_digest(ctx, rows)
    db, record = ctx.out / "abc.db", ctx.out / "abc.json"
    if db.exists():
        previous = json.loads(record.read_text()) if record.is_file() else {}
        if previous.get("digest") != digest:
            raise CalibrationError(
                f"{db}: made with other design runs, targets or ABC settings; remove it (and "
                "abc.json) to start the ABC afresh"
            )
    ctx.out.mkdir(parents=True, exist_ok=True)
    write_json(record, {"digest": digest, "db": db.name})
    spec = cal.spec.abc
    ctx.log(f"abc: {spec.population} particles × up to {spec.generations} generations")
    posterior = run_abc(
        ctx.emulators,
        cal.targets,
        cal.spec.history_matching.cutoff,
        len(cal.priors),
        spec,
        db,
        cal.seed,
        on_generation=lambda t, eps: ctx.log(f"abc: generation {t + 1}, ε = {eps:.4g}"),
    )
    summary = posterior_summary(ctx, posterior)
    previous = ctx.out / "posterior.json"
    if previous.is_file():  # a resumed ABC that ended where it was: keep its confirmation
        before = json.loads(previous.read_text())
        if before.get("chosen") == json.loads(json.dumps(summary["chosen"])):
            summary["confirmation"] = before.get("confirmation")
    write_posterior(ctx, summary)
    from gcsim.calibrate.plots import plot_marginals, plot_pairs

    plot_marginals(cal, posterior, summary, ctx.out / "marginals.png")
    plot_pairs(cal, posterior, summary, ctx.out / "pairs.png")
    return summary


def posterior_summary(ctx: Context, posterior: Any) -> dict[str, Any]:
    """Median, 90 % interval and identifiability per parameter; the chosen parameter set."""
    from gcsim.calibrate.abc import weighted_quantile

    cal = ctx.cal
    unit, w = posterior.unit, posterior.weights
    parameters = {}
    median_u = np.empty(len(cal.priors))
    for i, prior in enumerate(cal.priors):
        q05, q50, q95 = (weighted_quantile(unit[:, i], w, q) for q in (0.05, 0.5, 0.95))
        median_u[i] = q50
        ratio = (q95 - q05) / 0.9  # the prior's 90 % interval spans 0.9 in quantile space
        low, median, high = prior.from_unit(np.array([q05, q50, q95]))
        parameters[prior.path] = {
            "median": float(median),
            "interval_90": [float(low), float(high)],
            "prior": {"distribution": prior.distribution, "range": [prior.low, prior.high]},
            "interval_fraction_of_prior": float(ratio),
            "identifiable": bool(ratio < NON_IDENTIFIABLE),
        }
    inside = non_implausible(
        ctx.emulators, cal.targets, median_u[None, :], cal.spec.history_matching.cutoff
    )[0]
    if inside:
        chosen_u, rule = median_u, "posterior median (component-wise)"
    else:
        nearest = int(np.argmin(np.sum((unit - median_u) ** 2, axis=1)))
        chosen_u = unit[nearest]
        rule = "the particle nearest the component-wise median (the median itself is ruled out)"
    chosen = dict(zip(cal.paths, (float(v) for v in cal.from_unit(chosen_u)[0]), strict=True))
    emulator = ctx.emulators[-1]
    mean, var = emulator.predict(chosen_u[None, :], emulator.accepted)
    predicted = {
        name: {"mean": float(mean[0, j]), "sd": float(np.sqrt(var[0, j]))}
        for j, name in enumerate(emulator.accepted)
    }
    return {
        "calibration": cal.spec.name,
        "parameters": parameters,
        "non_identifiable": [p for p, s in parameters.items() if not s["identifiable"]],
        "chosen": chosen,
        "chosen_unit": [float(u) for u in chosen_u],
        "chosen_rule": rule,
        "emulator_at_chosen": predicted,
        "targets": {
            t.readout: {"value": t.mean, "sd_obs": t.sd_obs, "sd_discrepancy": t.sd_discrepancy}
            for t in cal.targets
        },
        "used_readouts": [t.readout for t in cal.targets if t.readout in emulator.accepted],
        "rejected_readouts": [t.readout for t in cal.targets if t.readout not in emulator.accepted],
        "abc": {
            "population": len(unit),
            "generations": len(posterior.epsilons),
            "epsilons": posterior.epsilons,
            "emulator_draws": posterior.simulations,
        },
        "confirmation": None,
    }


def write_posterior(ctx: Context, summary: dict[str, Any]) -> None:
    from gcsim.calibrate.report import posterior_markdown

    write_json(ctx.out / "posterior.json", summary)
    write_text(ctx.out / "posterior.md", posterior_markdown(summary))
    lines = [
        f"# Calibrated by `gcsim calibrate` ({ctx.cal.spec.name}): {summary['chosen_rule']}.",
        "# Use as the `parameters:` mapping of a scenario; intervals in posterior.md.",
    ]
    lines += [
        f"{path.removeprefix('parameters.')}: {v:.6g}" for path, v in summary["chosen"].items()
    ]
    write_text(ctx.out / "parameters.yaml", "\n".join(lines) + "\n")


def stage_confirm(ctx: Context) -> dict[str, Any]:
    cal = ctx.cal
    path = ctx.out / "posterior.json"
    if not path.is_file():
        raise CalibrationError(f"{path}: missing: run --stage abc first")
    summary = json.loads(path.read_text())
    chosen = np.array([[summary["chosen"][p] for p in cal.paths]])
    unit = np.clip(cal.to_unit(chosen), 0.0, 1.0)
    replicates = cal.spec.confirm.replicates
    rows = ensure_runs(ctx, "confirm", unit, _point_offsets(cal)[-1], replicates)
    ok = rows[rows["status"] == "ok"]
    cutoff = cal.spec.history_matching.cutoff
    confirmation = {}
    for t in cal.targets:
        values = ok[t.readout].dropna().to_numpy(dtype=float)
        if values.size == 0:
            confirmation[t.readout] = {"runs": 0, "mean": None, "sd": None, "z": None}
            continue
        sd = float(values.std(ddof=1)) if values.size > 1 else 0.0
        z = abs(float(values.mean()) - t.mean) / np.sqrt(t.variance + sd**2)
        confirmation[t.readout] = {
            "runs": int(values.size),
            "mean": float(values.mean()),
            "sd": sd,
            "values": [float(v) for v in values],
            "z": float(z),
            "consistent": bool(z <= cutoff),
        }
    summary["confirmation"] = {
        "replicates": replicates,
        "failed_runs": int((rows["status"] != "ok").sum()),
        "rule": "z = |mean − target| / sqrt(Var_obs + Var_discrepancy + sd_runs²); "
        f"consistent at z ≤ {cutoff}",
        "readouts": confirmation,
    }
    write_posterior(ctx, summary)
    from gcsim.calibrate.plots import plot_fit

    plot_fit(summary, ctx.out / "fit.png")
    return summary


# --- the driver ------------------------------------------------------------------------------


def _existing_outputs(ctx: Context, stages: Sequence[str]) -> list[str]:
    table = read_store(ctx.store)
    found = []
    if "design" in stages and len(table) and (table["stage"] == "wave1").any():
        found.append(str(ctx.store))
    if "emulate" in stages and (ctx.out / "emulator.json").exists():
        found.append(str(ctx.out / "emulator.json"))
    if "abc" in stages and (ctx.out / "abc.db").exists():
        found.append(str(ctx.out / "abc.db"))
    if "confirm" in stages and len(table) and (table["stage"] == "confirm").any():
        found.append(f"{ctx.store} (confirmation runs)")
    return found


def run_calibration(
    cal: Calibration,
    out: Path | None = None,
    *,
    stage: Stage = "all",
    resume: bool = False,
    simulator: Simulator | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
    batch_points: int | None = None,
    log: Callable[[str], None] = lambda line: None,
    on_result: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any] | None:
    """Run ``stage`` (or all stages in order) of a calibration; return the posterior summary
    when the ABC or confirmation stage ran.

    Parameters
    ----------
    cal : Calibration
        From :func:`gcsim.calibrate.spec.load_calibration`.
    out : Path, optional
        Output folder (default: the store, ``<file folder>/<file stem>``).
    stage : {"design", "emulate", "abc", "confirm", "all"}
        One stage; it needs the outputs of the stages before it.
    resume : bool
        Continue from what is on disk: stored runs are not rerun, the ABC history continues.
        Without it, a stage refuses to start where its outputs already exist.
    simulator : Simulator, optional
        Where readouts come from; default: full runs of the sweep
        (:class:`~gcsim.calibrate.simulator.SweepSimulator`, run directories under
        ``out/runs``, ``workers``/``scheduler`` as ``gcsim sweep``).
    batch_points : int, optional
        Store the design after every this many points (default: once per wave; the full-run
        simulator resumes inside a wave from its run directory anyway).
    """
    out = Path(out) if out is not None else cal.store
    if simulator is None:
        from gcsim.calibrate.simulator import SweepSimulator

        simulator = SweepSimulator(
            cal.sweep, out / "runs", workers=workers, scheduler=scheduler, on_result=on_result
        )
    ctx = Context(cal, out, simulator, resume, batch_points, log)
    stages = STAGES if stage == "all" else (stage,)
    if not resume:
        found = _existing_outputs(ctx, stages)
        if found:
            raise CalibrationError(
                f"{found[0]}: exists (use --resume to continue: finished runs are reused)"
            )
    summary = None
    for name in stages:
        if name == "design":
            stage_design(ctx)
        elif name == "emulate":
            stage_emulate(ctx)
        elif name == "abc":
            summary = stage_abc(ctx)
        else:
            summary = stage_confirm(ctx)
    return summary
