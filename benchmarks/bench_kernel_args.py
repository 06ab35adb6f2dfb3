"""Positional arrays or one named tuple of arrays: what a kernel call costs either way.

Issue 10 (item 6) asks whether the kernels with the longest argument lists should take their
arrays grouped (a numba-compatible ``typing.NamedTuple``) instead of a dozen positional arrays,
"where benchmarks show no loss". This measures it for ``immune_step`` (15 arrays),
``tumor_step`` (9) and ``secretion_sources`` (10), each called in these forms:

* ``positional``: the call the model makes today, ``kernel(rng, rules, order, a1, …, an)``;
* ``positional (again)``: the same call once more, as a separate form: its ratio to the first
  is the noise of the measurement (an A/A comparison);
* ``grouped wrapper``: the arrays in one named tuple, passed to a jitted wrapper that unpacks
  the fields and calls the unchanged kernel;
* ``grouped body``: the kernel compiled with the named tuple as its parameter. The body is not
  copied here: it is the kernel's own source (``inspect.getsource``) with its array parameters
  replaced by one ``arrays`` parameter and ``name = arrays.name`` lines at the top, compiled in
  a copy of the kernel module's namespace.

The state is realistic: a real ``GastricTumorModel`` (tumour disc of 0.3 × width, default
scenario) is built at each size and stepped ``--steps`` times; the kernel then runs on copies of
its arrays, with the shuffled site order the model would pass. Before every timed call the
arrays are copied back from that snapshot and the model's random stream (``model.kernel_rng``,
a ``gcsim.kernels.rng.StreamHandle``) is set back to its saved state, so every call does the
same work and draws the same numbers; the forms are checked to produce bit-identical arrays and
return values. A 4 × 4 window cut from the 100² model's tumour margin (where tumour and immune
cells are) measures the dispatch cost, where the call boundary dominates.

Repetitions are interleaved: in each of ``--repeats`` repetitions every form is called
``--calls`` times, the forms alternating call by call, in a fresh random order each round. A
fixed order gave an A/A ratio of 0.94 for ``immune_step`` in a trial run, probably because the
form that always follows its identical twin runs on branch history the twin has just trained. A
repetition's figure for a form is its median per-call time; the table gives the best
repetition's figure (best of N) and the grouped / positional ratio of the best figures, with the
range of the per-repetition ratios (each repetition's grouped median over its positional
median) as the spread.

Run: ``.venv/bin/python benchmarks/bench_kernel_args.py [--quick] [--repeats 7] [--json f]``.
"""

from __future__ import annotations

import argparse
import ast
import inspect
import random
import statistics
import sys
import textwrap
import time
import timeit
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np
from numba import njit
from rich.table import Table

from benchlib import machine_info, print_tables, write_json
from gcsim.kernels.immune import immune_step
from gcsim.kernels.rng import shuffled_sites
from gcsim.kernels.secretion import secretion_sources
from gcsim.kernels.tumor import tumor_step
from gcsim.model import IMMUNE_SITES, TUMOR_SITES, GastricTumorModel
from gcsim.scenario.schema import Domain
from gcsim.state import NO_IMMUNE, TUMOR

DEFAULT_SIZES = (200, 100)
DISPATCH_SIZE = 4
QUICK_SIZES = (100,)
KERNELS = ("immune_step", "tumor_step", "secretion_sources")
FORMS = ("positional", "positional (again)", "grouped wrapper", "grouped body")


class ImmuneArrays(NamedTuple):
    tissue: np.ndarray
    antigen: np.ndarray
    pdl1: np.ndarray
    immune: np.ndarray
    exhaustion: np.ndarray
    engaged: np.ndarray
    divisions: np.ndarray
    polarisation: np.ndarray
    oxygen: np.ndarray
    chemokine: np.ndarray
    ifng: np.ndarray
    tgfb: np.ndarray
    vegf: np.ndarray
    done: np.ndarray
    counters: np.ndarray


class TumorArrays(NamedTuple):
    tissue: np.ndarray
    cycle: np.ndarray
    pdl1: np.ndarray
    pdl1_const: np.ndarray
    antigen: np.ndarray
    marker: np.ndarray
    doomed: np.ndarray
    infection: np.ndarray
    oxygen: np.ndarray
    ifng: np.ndarray


class SecretionArrays(NamedTuple):
    tissue: np.ndarray
    immune: np.ndarray
    engaged: np.ndarray
    polarisation: np.ndarray
    oxygen: np.ndarray
    ifng: np.ndarray
    vegf_src: np.ndarray
    chemokine_src: np.ndarray
    ifng_src: np.ndarray
    tgfb_src: np.ndarray


def _kernels() -> dict[str, tuple[Any, type, int]]:
    """Each kernel with its array tuple and how many leading non-array arguments it takes."""
    kernels = {
        "immune_step": (immune_step, ImmuneArrays, 3),  # rng, rules, order
        "tumor_step": (tumor_step, TumorArrays, 4),  # rng, rules, marker_loss, order
        "secretion_sources": (secretion_sources, SecretionArrays, 1),  # rules
    }
    for name, (kernel, group, lead) in kernels.items():
        params = list(inspect.signature(kernel.py_func).parameters)
        if tuple(params[lead:]) != group._fields:
            raise RuntimeError(f"{name}'s arrays are now {params[lead:]}; update {group.__name__}")
    return kernels


@njit
def _immune_wrapper(rng, rules, order, a):
    return immune_step(
        rng,
        rules,
        order,
        a.tissue,
        a.antigen,
        a.pdl1,
        a.immune,
        a.exhaustion,
        a.engaged,
        a.divisions,
        a.polarisation,
        a.oxygen,
        a.chemokine,
        a.ifng,
        a.tgfb,
        a.vegf,
        a.done,
        a.counters,
    )


@njit
def _tumor_wrapper(rng, rules, marker_loss, order, a):
    return tumor_step(
        rng,
        rules,
        marker_loss,
        order,
        a.tissue,
        a.cycle,
        a.pdl1,
        a.pdl1_const,
        a.antigen,
        a.marker,
        a.doomed,
        a.infection,
        a.oxygen,
        a.ifng,
    )


@njit
def _secretion_wrapper(rules, a):
    return secretion_sources(
        rules,
        a.tissue,
        a.immune,
        a.engaged,
        a.polarisation,
        a.oxygen,
        a.ifng,
        a.vegf_src,
        a.chemokine_src,
        a.ifng_src,
        a.tgfb_src,
    )


WRAPPERS = {
    "immune_step": _immune_wrapper,
    "tumor_step": _tumor_wrapper,
    "secretion_sources": _secretion_wrapper,
}


def tuple_bodied(kernel: Any, fields: Sequence[str], lead: int) -> Any:
    """``kernel`` recompiled to take its arrays as one named tuple ``arrays``.

    Its own source, with the array parameters replaced by ``arrays`` and ``name = arrays.name``
    at the top of the body, compiled in a copy of the kernel module's globals.
    """
    func = kernel.py_func
    tree = ast.parse(textwrap.dedent(inspect.getsource(func)))
    definition = tree.body[0]
    assert isinstance(definition, ast.FunctionDef)
    definition.decorator_list = []
    definition.name = f"{func.__name__}_grouped_body"
    definition.args.args = [*definition.args.args[:lead], ast.arg("arrays")]
    unpack = [ast.parse(f"{name} = arrays.{name}").body[0] for name in fields]
    body = definition.body
    has_docstring = isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
    definition.body = body[:1] + unpack + body[1:] if has_docstring else unpack + body
    ast.fix_missing_locations(tree)
    namespace = dict(sys.modules[func.__module__].__dict__)
    exec(compile(tree, inspect.getsourcefile(func) or "<kernel>", "exec"), namespace)
    return njit(namespace[definition.name])


class Case(NamedTuple):
    """One kernel's call on one lattice: the snapshot, the working copies, the forms."""

    kernel: str
    lattice: str
    snapshot: tuple[np.ndarray, ...]  # the arrays as the kernel would receive them
    working: tuple[np.ndarray, ...]  # what the calls run on, reset from the snapshot
    forms: dict[str, tuple[Callable[..., Any], tuple[Any, ...]]]


def _model(size: int, steps: int, seed: int) -> Any:
    model = GastricTumorModel(
        rng=seed,
        domain__width=size,
        domain__height=size,
        tumor__initial_radius_um=0.3 * size * Domain().site_size_um,
        time__days=steps / 24.0 + 2.0,
    )
    for _ in range(steps):
        model.step()
    return model


def _arrays_at_call(model: Any, kernel: str) -> tuple[np.ndarray, ...]:
    """The arrays ``model.step`` passes to ``kernel``, in the kernel's order (copies)."""
    s = model.state
    if kernel == "immune_step":
        arrays: tuple[np.ndarray, ...] = (
            *(getattr(s, name) for name in ImmuneArrays._fields[:-3]),
            model._vegf_signal(model.effects),
            np.zeros_like(model._done),
            np.zeros_like(model._immune_counters),
        )
    elif kernel == "tumor_step":
        arrays = tuple(getattr(s, name) for name in TumorArrays._fields)
    else:
        src = model._sources
        arrays = (
            *(getattr(s, name) for name in SecretionArrays._fields[:6]),
            *(src[name] for name in ("vegf", "chemokine", "ifng", "tgfb")),
        )
    return tuple(np.array(a, copy=True) for a in arrays)


def _window(model: Any, size: int) -> tuple[slice, slice]:
    """The ``size`` × ``size`` window with the most tumour and immune cells together."""
    s = model.state
    tumour = (s.tissue == TUMOR).astype(np.int64)
    immune = (s.immune != NO_IMMUNE).astype(np.int64)
    best, where = -1, (0, 0)
    nx, ny = s.tissue.shape
    for x in range(0, nx - size + 1, size):
        for y in range(0, ny - size + 1, size):
            t = int(tumour[x : x + size, y : y + size].sum())
            i = int(immune[x : x + size, y : y + size].sum())
            score = min(t, size * size - t) + 4 * i if t and i else -1
            if score > best:
                best, where = score, (x, y)
    return slice(where[0], where[0] + size), slice(where[1], where[1] + size)


def cases(model: Any, lattice: str, window: tuple[slice, slice] | None = None) -> list[Case]:
    """The three kernels' calls on the model's state (or on a window of it)."""
    out = []
    for name, (kernel, group, lead) in _kernels().items():
        snapshot = _arrays_at_call(model, name)
        if window is not None:  # cut every lattice array (not the counters) to the window
            snapshot = tuple(
                np.ascontiguousarray(a[window]) if a.ndim == 2 else a for a in snapshot
            )
        working = tuple(a.copy() for a in snapshot)
        handle = model.kernel_rng
        if name == "secretion_sources":
            leading: tuple[Any, ...] = (model.secretion_rules,)
        else:
            if name == "immune_step":
                rules, layer, selected = (
                    (model.rules.for_step("immune", model.effects),),
                    snapshot[3],
                    IMMUNE_SITES,
                )
            else:  # the tumour kernel's rules and its per-bit marker loss at division
                rules = (model.tumor_rules, model._marker_loss)
                layer, selected = snapshot[0], TUMOR_SITES
            buffer = np.empty(layer.size, np.int64)
            order = buffer[: shuffled_sites(handle, layer, selected, buffer)].copy()
            leading = (handle, *rules, order)
        grouped = group(*working)
        body = tuple_bodied(kernel, group._fields, lead)
        forms = {
            "positional": (kernel, (*leading, *working)),
            "positional (again)": (kernel, (*leading, *working)),
            "grouped wrapper": (WRAPPERS[name], (*leading, grouped)),
            "grouped body": (body, (*leading, grouped)),
        }
        out.append(Case(name, lattice, snapshot, working, forms))
    return out


def _reset(case: Case, rng: np.random.Generator, rng_state: dict[str, Any]) -> None:
    for work, original in zip(case.working, case.snapshot, strict=True):
        np.copyto(work, original)
    rng.bit_generator.state = rng_state


def check_same_work(case: Case, rng: np.random.Generator, rng_state: dict[str, Any]) -> None:
    """Every form, from the same inputs and stream state, writes the same arrays and returns
    the same value (also compiles every form, outside the timings)."""
    reference = None
    for form, (func, args) in case.forms.items():
        _reset(case, rng, rng_state)
        result = (func(*args), tuple(a.copy() for a in case.working), rng.random())
        if reference is None:
            reference = result
            continue
        same = result[0] == reference[0] and result[2] == reference[2]
        same = same and all(
            np.array_equal(a, b, equal_nan=True)
            for a, b in zip(result[1], reference[1], strict=True)
        )
        if not same:
            raise RuntimeError(f"{case.kernel} on {case.lattice}: {form!r} did different work")


def time_case(
    case: Case,
    rng: np.random.Generator,
    rng_state: dict[str, Any],
    repeats: int,
    calls: int,
    seed: int = 0,
) -> dict[str, Any]:
    """Per-call times (s) of every form: ``repeats`` interleaved repetitions of ``calls`` calls."""
    names = list(case.forms)
    medians: dict[str, list[float]] = {name: [] for name in names}
    clock = time.perf_counter_ns
    shuffler = random.Random(seed)
    for _ in range(repeats):
        samples: dict[str, list[int]] = {name: [] for name in names}
        for _ in range(calls):
            rotated = shuffler.sample(names, len(names))
            for name in rotated:
                func, args = case.forms[name]
                _reset(case, rng, rng_state)
                start = clock()
                func(*args)
                samples[name].append(clock() - start)
        for name in names:
            medians[name].append(statistics.median(samples[name]) * 1e-9)
    base = medians["positional"]
    forms = {}
    for name in names:
        ratios = [m / b for m, b in zip(medians[name], base, strict=True)]
        forms[name] = {
            "best_s": min(medians[name]),
            "median_s": statistics.median(medians[name]),
            "ratio_of_best": min(medians[name]) / min(base),
            "ratio_min": min(ratios),
            "ratio_median": statistics.median(ratios),
            "ratio_max": max(ratios),
            "repetition_medians_s": medians[name],
        }
    group = _kernels()[case.kernel][1]
    build_s = min(timeit.repeat(lambda: group(*case.working), number=10_000, repeat=5)) / 10_000
    return {
        "kernel": case.kernel,
        "lattice": case.lattice,
        "forms": forms,
        "tuple_build_s": build_s,
    }


def _calls_for(lattice_sites: int, calls: int | None) -> int:
    if calls is not None:
        return calls
    return 300 if lattice_sites <= 16 else max(20, 4_000_000 // lattice_sites)


def run(
    sizes: Sequence[int] = DEFAULT_SIZES,
    steps: int = 48,
    repeats: int = 7,
    calls: int | None = None,
    seed: int = 1,
    dispatch: bool = True,
) -> dict[str, Any]:
    """Measure the three kernels at every size, then (``dispatch``) on a 4 × 4 window."""
    rows = []
    for i, size in enumerate(sizes):
        model = _model(size, steps, seed)
        lattices = [(f"{size}²", None)]
        if dispatch and i == len(sizes) - 1:
            lattices.append((f"{DISPATCH_SIZE}² (dispatch)", _window(model, DISPATCH_SIZE)))
        for lattice, window in lattices:
            sites = DISPATCH_SIZE**2 if window is not None else size * size
            rng_state = model.rng.bit_generator.state
            for case in cases(model, lattice, window):
                check_same_work(case, model.rng, rng_state)
                row = time_case(case, model.rng, rng_state, repeats, _calls_for(sites, calls), seed)
                row["calls"] = _calls_for(sites, calls)
                rows.append(row)
            model.rng.bit_generator.state = rng_state
    return {"sizes": list(sizes), "steps": steps, "repeats": repeats, "seed": seed, "rows": rows}


def _us(seconds: float) -> str:
    return f"{seconds * 1e6:.2f}" if seconds < 1e-4 else f"{seconds * 1e6:.0f}"


SHORT = {"positional (again)": "A/A", "grouped wrapper": "wrapper", "grouped body": "body"}


def tables(result: dict[str, Any]) -> list[Table]:
    """Best µs per call of each form; then each form's ratio to positional with its spread."""
    times = Table(
        title=f"Kernel call, µs (best of {result['repeats']} interleaved repetitions' medians)"
    )
    for col in ("kernel", "lattice", "calls/rep", *FORMS, "NamedTuple build"):
        times.add_column(col, justify="right")
    ratios = Table(
        title=(
            "Ratio to positional: of the best figures \\[range of the per-repetition ratios]; "
            "A/A = positional vs itself (the noise)"
        )
    )
    for col in ("kernel", "lattice", *SHORT.values(), "wrapper − positional"):
        ratios.add_column(col, justify="right")
    for row in result["rows"]:
        forms = row["forms"]
        times.add_row(
            row["kernel"],
            row["lattice"],
            str(row["calls"]),
            *(_us(forms[form]["best_s"]) for form in FORMS),
            _us(row["tuple_build_s"]),
        )
        added = forms["grouped wrapper"]["best_s"] - forms["positional"]["best_s"]
        ratios.add_row(
            row["kernel"],
            row["lattice"],
            *(
                f"{forms[form]['ratio_of_best']:.3f} "
                f"[{forms[form]['ratio_min']:.3f}–{forms[form]['ratio_max']:.3f}]"
                for form in SHORT
            ),
            f"{added * 1e6:+.2f} µs",
        )
    return [times, ratios]


def run_default(quick: bool = False) -> dict[str, Any]:
    """What the script runs without options (``quick``: as with ``--quick``)."""
    if quick:
        return run(QUICK_SIZES, steps=12, repeats=3)
    return run()


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", help="comma-separated lattice widths (default 200,100)")
    parser.add_argument("--steps", type=int, default=48, help="model steps before measuring")
    parser.add_argument("--repeats", type=int, default=7, help="interleaved repetitions")
    parser.add_argument("--calls", type=int, help="timed calls per form and repetition")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-dispatch", action="store_true", help="skip the 4 × 4 window")
    parser.add_argument("--quick", action="store_true", help="100² only, 12 steps, 3 repeats")
    parser.add_argument("--json", help="write the result here")
    args = parser.parse_args(argv)
    if args.quick:
        result = run_default(quick=True)
    else:
        sizes = [int(n) for n in args.sizes.split(",")] if args.sizes else list(DEFAULT_SIZES)
        result = run(sizes, args.steps, args.repeats, args.calls, args.seed, not args.no_dispatch)
    print_tables(tables(result))
    if args.json:
        write_json(args.json, {"machine": machine_info(), "kernel_args": result})
    return result


if __name__ == "__main__":
    main()
