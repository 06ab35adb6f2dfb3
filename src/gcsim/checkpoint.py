"""Full-state checkpoints: save a running model, load it, and continue bit-identically.

A checkpoint holds everything a step reads that is not rebuilt from the scenario: every array of
``model.state`` (lattice, cell attributes, vessels, the fields — the oxygen field is the SOR's
warm start), the lymph-node compartment and priming, the counters, Mesa's step count and clock,
the recorded DataCollector rows and the last metrics, the therapies' mutable state
(``Therapy.get_state``) and both random streams (``model.rng``'s bit generator and Mesa's
``model.random``). What the constructor rebuilds from the scenario — parameters, compiled rules,
solver scratch, radiotherapy field masks, drug calendars — is not stored: ``load`` builds the
model from the stored scenario (JSON) and arm, then overwrites its state. Solver scratch
(``_sor_work``, ``_decay_work``, ``_uptake``/``_supply``/``_sources``, the drug ``_delivery``
cache keyed by step) is rewritten before it is read in every step, so it carries nothing from
one step to the next (``tests/test_checkpoint.py`` proves the continuation bit-identical).
``timings`` are stored but are wall-clock seconds, not results.

The file is one ``.npz`` (``numpy.savez``, uncompressed) of plain arrays plus one entry
``meta``, a JSON string: nothing in it is a pickle, so loading never executes code
(``numpy.load(path, allow_pickle=False)`` reads it). It is written atomically.

``branch`` starts a treatment arm from a checkpoint of the untreated model (``gcsim.runner``
uses it so that the arms of a replicate share their pre-treatment history).
"""

from __future__ import annotations

import dataclasses
import io
import json
import zipfile
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import mesa
import numpy as np

from gcsim.io import atomic_path

# Models are typed as Mesa's base class: gcsim.model imports this module, not the reverse.

KIND = "gcsim-checkpoint"
FORMAT = 2  # bump when the meaning of a stored entry changes; ``read`` refuses other formats
META = "meta"


class CheckpointError(Exception):
    """A checkpoint that cannot be read or does not fit the model it is loaded into."""


@dataclass
class Checkpoint:
    """A model's full state in memory: JSON-able ``meta`` and named ``arrays`` (copies)."""

    meta: dict[str, Any]
    arrays: dict[str, np.ndarray]

    @property
    def steps(self) -> int:
        """Model steps done when the checkpoint was taken."""
        return int(self.meta["steps"])

    def to_bytes(self) -> bytes:
        """The checkpoint file's bytes (what ``save`` writes)."""
        for name, array in self.arrays.items():
            if array.dtype.hasobject:  # np.savez would pickle it, and ``read`` refuses pickles
                raise CheckpointError(f"{name}: Python objects cannot be stored in a checkpoint")
        buffer = io.BytesIO()
        meta = json.dumps(self.meta, default=_json_scalar)
        np.savez(buffer, **{META: np.array(meta)}, **self.arrays)
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes, source: str = "checkpoint") -> Checkpoint:
        """Parse checkpoint bytes; ``source`` names them in errors."""
        return _parse(io.BytesIO(data), source)


# --- capture and restore -------------------------------------------------------------------


def capture(model: mesa.Model) -> Checkpoint:
    """The model's full state now (arrays copied: the model may go on stepping)."""
    arrays = {f"state.{name}": a.copy() for name, a in model.state.arrays().items()}
    records = model.datacollector.model_vars
    for name, values in records.items():
        arrays[f"records.{name}"] = np.asarray(values)
    therapies = []
    for i, therapy in enumerate(model.therapies):
        state = therapy.get_state()
        therapies.append({"kind": therapy.config.kind, "keys": sorted(state)})
        for key, value in state.items():
            arrays[f"therapy.{i}.{key}"] = np.array(value, copy=True)
    rng_state, rng_arrays = _split_arrays(model.rng.bit_generator.state, "rng")
    arrays.update(rng_arrays)
    random_version, random_internal, gauss = model.random.getstate()
    schedule = model._default_schedule  # Mesa's step event generator (no public accessor)
    meta = {
        "kind": KIND,
        "format": FORMAT,
        "gcsim": _gcsim_version(),
        "scenario": model.spec.model_dump(mode="json"),
        "arm": model.arm,
        "steps": int(model.steps),
        "time": float(model.time),
        "next_step_time": schedule.next_scheduled_time,
        "running": bool(model.running),
        "counters": dict(model.counters),
        "lymph_node": [float(v) for v in model._lymph_node],
        "priming_level": float(model.priming_level),
        "antigen_released": float(model.antigen_released),
        "oxygen_sweeps": int(model.oxygen_sweeps),
        "timings": dict(model.timings),
        "effects": dataclasses.asdict(model.effects),
        "metrics": dict(model._metrics),
        "records": list(records),
        "collection_times": list(getattr(model.datacollector, "_collection_steps", [])),
        "therapies": therapies,
        "rng": rng_state,
        "random": [random_version, list(random_internal), gauss],
    }
    return Checkpoint(meta, arrays)


def restore(model: mesa.Model, checkpoint: Checkpoint, *, therapies: bool = True) -> None:
    """Overwrite ``model``'s state with ``checkpoint``'s, in place.

    ``model`` must have been built from the checkpoint's scenario (same lattice and, with
    ``therapies``, the same treatments). Arrays are copied into the model's own, so views of
    them (Mesa's property layers) stay valid; the random streams are set in place, so
    ``model.kernel_rng``'s handle stays valid. ``therapies=False`` leaves the model's therapies
    as they are (``branch``: an arm's treatments start fresh on an untreated history).
    """
    meta, arrays = checkpoint.meta, checkpoint.arrays
    for name, target in model.state.arrays().items():
        if name == "leak" and "state.leak" not in arrays:
            _restore_without_leak(model, target)
            continue
        stored = _array(arrays, f"state.{name}")
        if stored.shape != target.shape or stored.dtype != target.dtype:
            raise CheckpointError(
                f"state.{name}: stored {stored.dtype}{list(stored.shape)}, the model has "
                f"{target.dtype}{list(target.shape)}"
            )
        target[...] = stored
    if therapies:
        _restore_therapies(model, meta, arrays)
    model.rng.bit_generator.state = _join_arrays(meta["rng"], arrays, "rng")
    version_, internal, gauss = meta["random"]
    model.random.setstate((version_, tuple(internal), gauss))

    model.counters.update(meta["counters"])
    model._lymph_node = [float(v) for v in meta["lymph_node"]]
    model.priming_level = float(meta["priming_level"])
    model.antigen_released = float(meta["antigen_released"])
    model.oxygen_sweeps = int(meta["oxygen_sweeps"])
    model.timings = {k: float(v) for k, v in meta["timings"].items()}
    model.effects = type(model.effects)(**meta["effects"])
    model._metrics = dict(meta["metrics"])
    records = model.datacollector.model_vars
    if list(meta["records"]) != list(records):
        raise CheckpointError("the recorded metrics differ from this gcsim's (another version?)")
    for name in records:
        records[name] = _array(arrays, f"records.{name}").tolist()
    if hasattr(model.datacollector, "_collection_steps"):
        model.datacollector._collection_steps = list(meta["collection_times"])
    _set_clock(model, int(meta["steps"]), float(meta["time"]), meta["next_step_time"])
    model.running = bool(meta["running"])
    model._delivery.clear()  # drug delivery fields cached by step number: solved again


def _restore_without_leak(model: mesa.Model, target: np.ndarray) -> None:
    """A checkpoint written before the VEGF leak became a state (decision 0028): with
    ``vessel.leak_relaxation_time`` 0 the leak is computed from VEGF at once and the state is
    never read, so zeros continue the run exactly; with a relaxation time its history is
    missing, which is an error."""
    if model.params["vessel.leak_relaxation_time"] > 0:
        raise CheckpointError(
            "the checkpoint has no entry 'state.leak' (written before the VEGF leak relaxed, "
            "decision 0028): load it with vessel.leak_relaxation_time = 0"
        )
    target[...] = 0.0


def _restore_therapies(
    model: mesa.Model, meta: dict[str, Any], arrays: dict[str, np.ndarray]
) -> None:
    stored = meta["therapies"]
    kinds = [t.config.kind for t in model.therapies]
    if [t["kind"] for t in stored] != kinds:
        raise CheckpointError(
            f"the checkpoint's therapies {[t['kind'] for t in stored]} are not the model's {kinds}"
        )
    for i, (therapy, entry) in enumerate(zip(model.therapies, stored, strict=True)):
        therapy.set_state({key: _array(arrays, f"therapy.{i}.{key}") for key in entry["keys"]})


def _set_clock(model: mesa.Model, steps: int, time: float, next_step: float | None) -> None:
    """Mesa's step count, clock and the pending event of its step generator (Mesa 3.5
    schedules ``step`` as a recurring event; without moving it a loaded model would replay
    every step from the first)."""
    model.steps = steps
    model.time = time
    schedule = model._default_schedule
    schedule.stop()
    if next_step is not None:
        schedule.schedule = dataclasses.replace(schedule.schedule, start=next_step)
        schedule.start()


# --- files ---------------------------------------------------------------------------------


def save(model: mesa.Model, path: str | Path) -> Path:
    """Write ``model``'s full state to ``path`` (an ``.npz`` file), atomically."""
    path = Path(path)
    data = capture(model).to_bytes()
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return path


def read(path: str | Path) -> Checkpoint:
    """Read a checkpoint file (FileNotFoundError if missing, CheckpointError if unreadable)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such checkpoint file")
    with path.open("rb") as handle:
        return _parse(handle, str(path))


def load[M: mesa.Model](path: str | Path, cls: type[M]) -> M:
    """The model of class ``cls`` (``GastricTumorModel``) saved in ``path``, ready to continue
    where it stopped."""
    return from_checkpoint(read(path), cls)


def from_checkpoint[M: mesa.Model](checkpoint: Checkpoint, cls: type[M]) -> M:
    """A ``cls`` rebuilt from the checkpoint's scenario and arm, with the checkpoint's state."""
    from gcsim.scenario.schema import Scenario

    scenario = Scenario.model_validate(checkpoint.meta["scenario"])
    model = cls(scenario, arm=checkpoint.meta["arm"])
    restore(model, checkpoint)
    return model


def branch[M: mesa.Model](
    checkpoint: Checkpoint,
    scenario: Any,
    arm: str,
    seed: int | np.random.SeedSequence,
    cls: type[M],
) -> M:
    """Arm ``arm`` of ``scenario`` continuing from ``checkpoint`` (an untreated model of the
    same pre-treatment scenario), with its random streams reseeded from ``seed``.

    The arm's therapies start fresh on the restored state. If the checkpoint's last recorded row
    is of the branch step, it is measured again with the arm's therapies (their exposure at that
    time, e.g. a fraction given at that very hour), as the arm would have recorded it.
    """
    model = cls(scenario, arm=arm, rng=0)
    restore(model, checkpoint, therapies=False)
    model.therapies = [t.start(model) for t in model.spec.arms[arm].treatments]
    sequence = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    model.rng.bit_generator.state = type(model.rng.bit_generator)(sequence).state
    model.random.seed(int(sequence.generate_state(1, np.uint64)[0]))
    times = model.datacollector.model_vars.get("time_h", [])
    if times and times[-1] == model.time_h:
        for values in model.datacollector.model_vars.values():
            values.pop()
        if hasattr(model.datacollector, "_collection_steps"):
            model.datacollector._collection_steps.pop()
        model._record()
    return model


# --- helpers -------------------------------------------------------------------------------


def _parse(handle: Any, source: str) -> Checkpoint:
    try:
        with np.load(handle, allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        raise CheckpointError(f"{source}: not a gcsim checkpoint ({exc})") from exc
    raw = arrays.pop(META, None)
    if raw is None or raw.dtype.kind != "U" or raw.ndim != 0:
        raise CheckpointError(f"{source}: not a gcsim checkpoint (no '{META}' entry)")
    try:
        meta = json.loads(str(raw))
    except ValueError as exc:
        raise CheckpointError(f"{source}: its '{META}' entry is not JSON ({exc})") from exc
    if not isinstance(meta, dict) or meta.get("kind") != KIND:
        raise CheckpointError(f"{source}: not a gcsim checkpoint")
    if meta.get("format") != FORMAT:
        raise CheckpointError(
            f"{source}: checkpoint format {meta.get('format')!r} (written by gcsim "
            f"{meta.get('gcsim', '?')}); this gcsim ({_gcsim_version()}) reads format {FORMAT}"
        )
    return Checkpoint(meta, arrays)


def _array(arrays: dict[str, np.ndarray], name: str) -> np.ndarray:
    try:
        return arrays[name]
    except KeyError:
        raise CheckpointError(f"the checkpoint has no entry {name!r}") from None


def _split_arrays(value: Any, prefix: str) -> tuple[Any, dict[str, np.ndarray]]:
    """``value`` (a bit generator's state: nested dicts) with arrays replaced by references
    ``{"__array__": name}`` and those arrays by name, so that the rest is JSON."""
    arrays: dict[str, np.ndarray] = {}

    def walk(item: Any, path: str) -> Any:
        if isinstance(item, dict):
            return {k: walk(v, f"{path}.{k}") for k, v in item.items()}
        if isinstance(item, np.ndarray):
            arrays[path] = item.copy()
            return {"__array__": path}
        if isinstance(item, np.integer):
            return int(item)
        return item

    return walk(value, prefix), arrays


def _join_arrays(value: Any, arrays: dict[str, np.ndarray], prefix: str) -> Any:
    if isinstance(value, dict):
        if set(value) == {"__array__"}:
            return _array(arrays, value["__array__"]).copy()
        return {k: _join_arrays(v, arrays, prefix) for k, v in value.items()}
    return value


def _json_scalar(value: Any) -> Any:
    """NumPy scalars (a counter summed from a kernel's result) as Python numbers."""
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _gcsim_version() -> str:
    try:
        return version("gcsim")
    except PackageNotFoundError:
        return "unknown"
