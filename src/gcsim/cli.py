"""The ``gcsim`` command line.

User mistakes (a bad scenario, a missing file, an unwritable path) end with exit code 2 and
one-line ``FILE:LINE:COL: field.path: message`` lines on stderr, never a traceback: a traceback
says "gcsim is broken" when the problem is the input. An unexpected exception (a bug) prints one
line and exits 1; ``GCSIM_DEBUG=1`` shows its traceback.

Heavy modules (numba, the model) must be imported inside the commands that need them, so that
``gcsim validate`` stays fast.
"""

from __future__ import annotations

import math
import os
import signal
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from gcsim.params import DEFAULTS, Param, markdown_table
from gcsim.scenario import ScenarioError, json_schema_text, load_scenario, write_json_schema

USER_ERROR = 2
INTERNAL_ERROR = 1
_WIDE = 150  # terminal width from which the parameter table gets one column per field
_NAME_WIDTH = max(len(p.name) for p in DEFAULTS)

# soft_wrap: a message must stay on one line whatever the terminal width; markup and
# highlighting are off because messages contain brackets (``[0, 1]``) and user text.
out = Console(soft_wrap=True, markup=False, highlight=False)
err = Console(stderr=True, soft_wrap=True, markup=False, highlight=False)


# --workers / --scheduler, as every command that runs simulations on an executor takes them
Workers = Annotated[
    int | None,
    typer.Option(
        "--workers",
        "-j",
        metavar="N",
        min=0,
        help="Local worker processes (default: all cores; 0 = run in this process).",
    ),
]
Scheduler = Annotated[
    str | None,
    typer.Option(
        "--scheduler", metavar="tcp://HOST:PORT", help="Run on this Dask cluster instead."
    ),
]
# --set, as every command that reads scenarios takes it (gcsim.scenario.load_scenario overrides)
Overrides = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        "-s",
        metavar="KEY.PATH=VALUE",
        help="Override a field or parameter, e.g. time.days=30 or "
        "parameters.cd8.kill_probability=0.2 (repeatable).",
    ),
]


def _one_executor(workers: int | None, scheduler: str | None) -> None:
    """A local pool or a Dask cluster, not both: a one-line error and exit 2 before any work."""
    if workers is not None and scheduler:
        _fail(["--workers and --scheduler exclude each other"])


def _default_out(name: str) -> Path:
    """Where ``run`` and ``sweep`` write without ``--out``: runs/<name>."""
    return Path("runs") / name.replace(" ", "_")


def _print_table(table: Table) -> None:
    """A result table; when the output is a file or a pipe, up to 200 columns wide (rich would
    otherwise cut it to 80, and arm names sharing a prefix would become ambiguous)."""
    if out.is_terminal:
        out.print(table)
    else:
        Console(file=out.file, width=max(out.width, 200), markup=False, highlight=False).print(
            table
        )


def _format_warning(message: Any, category: type[Warning], *args: Any, **kwargs: Any) -> str:
    """gcsim's own warnings as ``warning: FILE:LINE:COL: field: message`` lines; the others as
    Python formats them."""
    if category.__module__.startswith("gcsim."):
        return f"warning: {message}\n"
    return _python_formatwarning(message, category, *args, **kwargs)


_python_formatwarning = warnings.formatwarning


class _App(typer.Typer):
    """A Typer app whose last resort turns an unexpected exception into one line."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        warnings.formatwarning = _format_warning
        try:
            return super().__call__(*args, **kwargs)
        except Exception as exc:
            if os.environ.get("GCSIM_DEBUG"):
                raise
            err.print(
                f"gcsim: internal error: {type(exc).__name__}: {exc} "
                "(set GCSIM_DEBUG=1 to see the traceback)"
            )
            sys.exit(INTERNAL_ERROR)


app = _App(
    name="gcsim",
    help="Agent-based simulator of gastric cancer, its vessels and immune cells.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # plain click help: paragraphs rewrapped to the terminal (not the docstrings' line breaks)
    # and no typer metavars such as <bool> or <list[Path]>
    rich_markup_mode=None,
    context_settings={"max_content_width": 100},
)


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP (``timeout``, ``docker stop``, a batch scheduler, a closed terminal),
    raised in the main thread like Ctrl-C's KeyboardInterrupt so that the same cleanup runs."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


@contextmanager
def _stoppable() -> Iterator[None]:
    """SIGINT, SIGTERM and SIGHUP all raise (KeyboardInterrupt / Terminated) in the main thread;
    after the first one, further signals are ignored so that the cleanup is not cut short."""

    def on_signal(signum: int, _frame: object) -> None:
        for number in handled:
            signal.signal(number, signal.SIG_IGN)
        if signum == signal.SIGINT:
            raise KeyboardInterrupt
        raise Terminated(signum)

    handled = [signal.SIGINT, signal.SIGTERM, signal.SIGHUP]
    previous = {number: signal.signal(number, on_signal) for number in handled}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def _stopped(exc: KeyboardInterrupt, what: str) -> NoReturn:
    """One line saying which signal stopped the command and what was kept; exit 128 + signal."""
    signum = exc.signum if isinstance(exc, Terminated) else signal.SIGINT
    name = (
        "interrupted" if signum == signal.SIGINT else f"terminated ({signal.Signals(signum).name})"
    )
    err.print(f"{name}: {what}")
    raise typer.Exit(128 + signum)


def _fail(lines: list[str]) -> NoReturn:
    """Print each problem on its own line to stderr and exit with the user-error code."""
    for line in lines:
        err.print(line)
    raise typer.Exit(USER_ERROR)


def _load(file: Path, overrides: list[str] | tuple[str, ...] = ()) -> Any:
    """``load_scenario``, printing its warnings (legal but suspicious values, deprecated names)
    at once as ``warning: FILE:LINE:COL: field: message`` lines on stderr; ScenarioError
    propagates."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        scenario = load_scenario(file, overrides)
    for warning in caught:
        err.print(f"warning: {warning.message}")
    return scenario


def _package_version() -> str:
    try:
        return version("gcsim")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "unknown"


def _show_version(value: bool) -> None:
    if value:
        out.print(f"gcsim {_package_version()}")
        raise typer.Exit()


@app.callback()
def main(
    show_version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_show_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Agent-based simulator of gastric cancer, its vessels and immune cells."""


def _kind_of(file: Path) -> str:
    """``trial`` (a top-level ``cohort:``), ``trial-calibration`` (``pool:`` and ``targets:``)
    or ``scenario``; a file that cannot be read is left to the scenario loader, which says why."""
    from gcsim.scenario import read_yaml_mapping

    try:
        data = read_yaml_mapping(file)
    except ScenarioError:
        return "scenario"
    if "cohort" in data:
        return "trial"
    return "trial-calibration" if "pool" in data and "targets" in data else "scenario"


@app.command()
def validate(
    files: Annotated[
        list[Path],
        typer.Argument(metavar="FILE", help="Scenario YAML file(s).", show_default=False),
    ],
    overrides: Overrides = None,
) -> None:
    """Check scenario (or trial) files without running them: exit 0 if all are valid, 2
    otherwise. A file with a `cohort:` is read as a trial (gcsim trial): its base scenario and
    every candidate patient are checked too."""
    problems: list[str] = []
    for file in files:
        kind = _kind_of(file)
        if overrides and kind != "scenario":
            _fail([f"{file}: --set applies to scenarios, not to a {kind} file"])
        try:
            if kind == "trial-calibration":
                from gcsim.scenario import read_yaml_mapping
                from gcsim.scenario.loader import validate_yaml_mapping
                from gcsim.trial.calibrate_spec import TrialCalibrationSpec

                spec = validate_yaml_mapping(
                    TrialCalibrationSpec, read_yaml_mapping(file), str(file)
                )
                out.print(
                    f"{file}: ok (trial calibration {spec.name}; its pool is checked by "
                    "gcsim trial-calibrate)"
                )
                continue
            if kind == "trial":
                from gcsim.trial.execute import plan_trial
                from gcsim.trial.load import load_trial

                trial = load_trial(file)
                plan = plan_trial(trial)
                out.print(
                    f"{file}: ok (trial {trial.spec.name}: {len(plan.candidates)} candidates, "
                    f"{len(plan.tasks)} patient runs)"
                )
                continue
            scenario = _load(file, overrides or ())
        except ScenarioError as exc:
            problems += exc.messages
        else:
            out.print(f"{file}: ok ({scenario.name})")
    if problems:
        _fail(list(dict.fromkeys(problems)))  # a bad --set is the same line for every file


@app.command()
def schema(
    output: Annotated[
        Path | None,
        typer.Option(
            "--out", "-o", metavar="FILE", help="Write to this file (atomically) instead of stdout."
        ),
    ] = None,
) -> None:
    """Print the JSON Schema of scenario files (for editors and other tools)."""
    if output is None:
        sys.stdout.write(json_schema_text())  # raw text: rich would wrap long JSON lines
        return
    try:
        write_json_schema(output)
    except OSError as exc:
        _fail([f"{output}: cannot write: {exc.strerror or exc}"])
    out.print(f"wrote {output}")


@app.command()
def params(
    markdown: Annotated[
        bool, typer.Option("--markdown", help="Print Markdown (docs/parameters.md) instead.")
    ] = False,
) -> None:
    """List the default parameters with their units, ranges and sources."""
    if markdown:
        sys.stdout.write(markdown_table())
        return
    out.print(_params_table(out.width), soft_wrap=False)


@app.command()
def therapies() -> None:
    """List the therapy types a scenario may use (built-in and plugins), with their drugs, the
    effect channels they move and their parameter groups."""
    from gcsim.therapies import registry

    table = Table(title="Therapies (`type:` of a treatment)")
    for column in ("type", "what", "drugs", "channels", "parameters"):
        table.add_column(column)
    for kind, cls in registry().items():
        drugs = ", ".join(getattr(cls, "molecules", {})) or "—"
        groups = ", ".join(dict.fromkeys(p.name.rsplit(".", 1)[0] for p in cls.parameters))
        what = " ".join((cls.__doc__ or "").split("\n\n")[0].split()).replace("``", "")
        table.add_row(kind, what, drugs, ", ".join(cls.channels) or "—", groups or "—")
    _print_table(table)


@app.command()
def rules() -> None:
    """Print the behaviour rules (cell type, signal, direction, behaviour, half-max, Hill power,
    source) as a Markdown table, generated from the same declarations the model compiles."""
    from gcsim.behaviours import behaviour_table

    sys.stdout.write(behaviour_table({p.name: p for p in DEFAULTS}))


def _params_table(width: int) -> Table:
    """One row per parameter, one section per group; assumptions stand out in yellow.

    Below ``_WIDE`` columns the meaning and the source go under the name, so that nothing is
    cut at 80 columns (the name must stay whole: it is what a scenario types).
    """
    wide = width >= _WIDE
    table = Table(
        title="Default parameters (override under `parameters:` in a scenario)",
        show_lines=not wide,
    )
    table.add_column("name" if wide else "name / meaning / source", min_width=_NAME_WIDTH)
    table.add_column("value", justify="right", no_wrap=True)
    table.add_column("unit", no_wrap=True)
    table.add_column("range", no_wrap=True)
    if wide:
        table.add_column("meaning")
        table.add_column("source")
    group = None
    for param in DEFAULTS:
        if wide and group is not None and param.group != group:
            table.add_section()
        group = param.group
        numbers = (f"{param.value:.6g}", param.unit, _range(param))
        style = "yellow" if param.is_assumption else None
        if wide:
            table.add_row(param.name, *numbers, param.description, param.source, style=style)
        else:
            cell = Text(param.name, style="bold")
            cell.append(f"\n{param.description}\n")
            cell.append(param.source, style="dim")
            table.add_row(cell, *numbers, style=style)
    return table


def _positive(value: float | None, option: str) -> float | None:
    """Typer callback: a finite number that must be > 0 (typer's ``min`` includes the bound)."""
    if value is not None and not math.isfinite(value):
        _fail([f"{option}: must be a finite number, got {value:g}"])
    if value is not None and value <= 0:
        _fail([f"{option}: must be positive, got {value:g}"])
    return value


def _range(param: Param) -> str:
    high = "∞" if math.isinf(param.hi) else f"{param.hi:g}"
    return f"[{param.lo:g}, {high}]"


@app.command(short_help="Simulate every arm × replicate of a scenario to a run directory.")
def run(
    file: Annotated[Path, typer.Argument(metavar="FILE", help="Scenario YAML file.")],
    out_dir: Annotated[
        Path | None,
        typer.Option(
            "--out", "-o", metavar="DIR", help="Run directory (default: runs/<scenario name>)."
        ),
    ] = None,
    seed: Annotated[
        int | None,
        typer.Option("--seed", min=0, metavar="SEED", help="Root seed (overrides the file's)."),
    ] = None,
    overrides: Overrides = None,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace a non-empty output directory.")
    ] = False,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            "-j",
            metavar="N",
            min=0,
            help="Processes for the arm × replicate runs (default: one per CPU, at most one per "
            "run; 0 or 1 = run in this process).",
        ),
    ] = None,
    snapshots_every: Annotated[
        float | None,
        typer.Option(
            "--snapshots-every",
            metavar="HOURS",
            callback=lambda v: _positive(v, "--snapshots-every"),
            help="Also store the lattice of replicate 0 of each arm every HOURS "
            "(snapshots_<arm>.npz), for `gcsim animate`.",
        ),
    ] = None,
) -> None:
    """Simulate every arm × replicate of a scenario; write run.json, timeseries.parquet,
    runs.parquet, arms.csv and plots to a run directory."""
    settings = list(overrides or []) + ([f"seed={seed}"] if seed is not None else [])
    try:
        scenario = _load(file, settings)
    except ScenarioError as exc:
        _fail(exc.messages)
    target = out_dir if out_dir is not None else _default_out(scenario.name)

    from gcsim.io import OutputExistsError, ResultsKeptError, check_output_dir

    try:
        check_output_dir(target, overwrite)  # refuse before spending minutes simulating
    except OutputExistsError as exc:
        _fail([str(exc)])
    from gcsim.report import progress_bar, summary_table
    from gcsim.runner import run_scenario

    try:
        with (
            _stoppable(),
            warnings.catch_warnings(record=True) as caught,
            progress_bar(out) as advance,
        ):
            warnings.simplefilter("always")
            result = run_scenario(
                scenario,
                target,
                overwrite=overwrite,
                progress=advance,
                workers=workers,
                snapshots_every_hours=snapshots_every,
            )
    except OutputExistsError as exc:
        _fail([str(exc)])
    except ResultsKeptError as exc:
        err.print(str(exc))
        raise typer.Exit(INTERNAL_ERROR) from None
    except OSError as exc:  # a full disk, a quota, a vanished mount while writing
        err.print(
            f"{target}: cannot write the results: {exc.strerror or exc}; nothing was written "
            f"there (the temporary directory was removed)"
        )
        raise typer.Exit(INTERNAL_ERROR) from None
    except KeyboardInterrupt as exc:
        _stopped(exc, f"the workers were stopped and nothing was written to {target}")
    _print_table(summary_table(result))
    for warning in caught:
        err.print(f"warning: {warning.message}")
    out.print(f"results: {target}")


# --- teaching (gcsim.animate, gcsim.app) -----------------------------------------------------


def _need_teach_extra(*modules: str) -> None:
    """The teaching commands' packages are an optional extra: say so instead of a traceback."""
    from importlib.util import find_spec

    missing = [m for m in modules if find_spec(m) is None]
    if missing:
        _fail(
            [
                f"this command needs {', '.join(missing)}: install the teaching extra, "
                "pip install 'gcsim[teach]'"
            ]
        )


@app.command(short_help="GIF and MP4 of a run stored with --snapshots-every.")
def animate(
    run_dir: Annotated[Path, typer.Argument(metavar="RUN_DIR", help="A finished run directory.")],
    fps: Annotated[
        float,
        typer.Option(
            "--fps",
            metavar="FPS",
            callback=lambda v: _positive(v, "--fps"),
            help="Frames per second.",
        ),
    ] = 4.0,
    out_dir: Annotated[
        Path | None,
        typer.Option(
            "--out", "-o", metavar="DIR", help="Directory for the animations (default: RUN_DIR)."
        ),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            "-j",
            metavar="N",
            min=0,
            help="Processes, one arm each (default: one per CPU, at most one per arm; 0 or 1 = "
            "in this process).",
        ),
    ] = None,
) -> None:
    """Render animation_<arm>.gif and .mp4 of a run stored with --snapshots-every: the lattice
    beside its plots, one frame per snapshot."""
    _need_teach_extra("imageio", "imageio_ffmpeg")
    from gcsim.animate import AnimationError, animate_run
    from gcsim.report import progress_bar

    try:
        with _stoppable(), progress_bar(out, "rendering", "frames") as advance:
            animations = animate_run(run_dir, out_dir, fps, progress=advance, workers=workers)
    except AnimationError as exc:
        _fail([str(exc)])
    except KeyboardInterrupt as exc:
        _stopped(exc, "animations finished before this are kept")
    for animation in animations:
        out.print(f"{animation.arm}: {animation.frames} frames → {animation.gif}, {animation.mp4}")


@app.command(short_help="The classroom demo in the browser (works offline).")
def demo(
    file: Annotated[
        Path | None,
        typer.Argument(
            metavar="SCENARIO.yaml",
            help="Scenario to start from (its lattice, tumour and duration; the page sets the "
            "treatments). Default: a 100 × 100 section, 60 days.",
        ),
    ] = None,
    host: Annotated[
        str, typer.Option("--host", metavar="HOST", help="Address to listen on.")
    ] = "127.0.0.1",
    port: Annotated[
        int, typer.Option("--port", min=1, max=65535, metavar="PORT", help="Port.")
    ] = 8765,
) -> None:
    """Start the classroom demo in the browser: the lattice, live plots and therapy controls
    (Mesa SolaraViz). Works offline; stop it with Ctrl-C."""
    if file is not None:
        try:
            _load(file)  # report a bad file here, not as a broken page
        except ScenarioError as exc:
            _fail(exc.messages)
    _need_teach_extra("solara", "solara_assets", "altair")
    from gcsim.demo import offline_environment, server_command

    env = {**os.environ, **offline_environment(file)}
    command = server_command(host, port)
    out.print(f"gcsim demo: open http://{host}:{port}/ in a browser (Ctrl-C stops it)")
    sys.stdout.flush()
    # exec, not a child process: the server is this process, so Ctrl-C or a kill of this
    # process id stops it, and nothing is left listening behind a dead parent
    os.execve(sys.executable, command, env)


# --- sweeps (gcsim.sweep) --------------------------------------------------------------------

RUNS_FAILED = 3  # the sweep finished, but some runs raised: their errors are in metrics.parquet
INTERRUPTED = 130  # as a shell reports SIGINT


@app.command()
def sweep(
    file: Annotated[Path, typer.Argument(metavar="SWEEP.yaml", help="Sweep file.")],
    out_dir: Annotated[
        Path | None,
        typer.Option(
            "--out", "-o", metavar="DIR", help="Sweep directory (default: runs/<sweep name>)."
        ),
    ] = None,
    workers: Workers = None,
    scheduler: Scheduler = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="Finish an interrupted sweep in --out.")
    ] = False,
    max_runs: Annotated[
        int,
        typer.Option(
            "--max-runs",
            min=1,
            max=1_000_000,
            metavar="N",
            help="Refuse a design of more runs than this (at most 1,000,000: a plan is held "
            "in memory, ~2.4 KiB a run).",
        ),
    ] = 100_000,
) -> None:
    """Run a parameter sweep: every design point × replicate, locally or on a Dask cluster."""
    _one_executor(workers, scheduler)
    from gcsim.sweep.design import plan_runs
    from gcsim.sweep.spec import load_sweep

    try:
        spec = load_sweep(file)
        plan = plan_runs(spec, max_runs)  # every run's scenario is validated before any runs
    except ScenarioError as exc:
        _fail(exc.messages)
    target = out_dir if out_dir is not None else _default_out(spec.spec.name)

    from gcsim.sweep.execute import SweepDirectoryError, prepare_directory, run_sweep
    from gcsim.sweep.report import failure_lines, summary_table, sweep_progress

    try:
        done = prepare_directory(target, spec, plan, resume)  # refuse before starting workers
    except SweepDirectoryError as exc:
        _fail([str(exc)])
    executor = _start_executor(workers, scheduler)
    out.print(
        f"{spec.spec.name}: {len(plan.runs)} runs ({len(done)} done) on {executor.description}"
    )
    try:
        with _stoppable(), sweep_progress(out, len(plan.runs), len(done)) as on_result:
            summary = run_sweep(spec, plan, target, executor, resume=resume, on_result=on_result)
    except KeyboardInterrupt as exc:
        _stopped(exc, f"finished runs are kept in {target}; rerun with --resume")
    _print_table(summary_table(summary))
    if summary.reached_edge:
        err.print(
            f"warning: the tumour reached the domain edge in {summary.reached_edge} run(s) "
            "(column tumor_reached_edge): later growth is not visible; enlarge the domain"
        )
    for line in failure_lines(summary):
        err.print(line)
    out.print(f"results: {target}")
    if summary.failed:
        err.print(f"{summary.failed} of {summary.total} runs failed")
        raise typer.Exit(RUNS_FAILED)


@app.command(short_help="Run a virtual trial: a cohort of patients in paired or randomised arms.")
def trial(
    file: Annotated[Path, typer.Argument(metavar="TRIAL.yaml", help="Trial file.")],
    out_dir: Annotated[
        Path | None,
        typer.Option(
            "--out", "-o", metavar="DIR", help="Trial directory (default: runs/<trial name>)."
        ),
    ] = None,
    workers: Workers = None,
    scheduler: Scheduler = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="Finish an interrupted trial in --out.")
    ] = False,
    biomarkers: Annotated[
        bool | None,
        typer.Option(
            "--biomarkers/--no-biomarkers",
            help="Rank predictive biomarkers in the report (default: the trial file's choice).",
        ),
    ] = None,
    max_runs: Annotated[
        int,
        typer.Option(
            "--max-runs", min=1, max=1_000_000, metavar="N", help="Refuse a larger trial."
        ),
    ] = 20_000,
    patients: Annotated[
        int | None,
        typer.Option(
            "--patients",
            min=1,
            max=1_000_000,
            metavar="N",
            help="Cohort size instead of the file's; with the Sobol' sampler the first N "
            "patients of the file's cohort (a quick look at a large trial).",
        ),
    ] = None,
) -> None:
    """Run a virtual trial (docs/trials.md): every patient of the cohort in every arm (paired) or
    in its allocated arm (randomised), then patients.parquet, trial.json and report.html."""
    _one_executor(workers, scheduler)
    from gcsim.sweep.execute import SweepDirectoryError
    from gcsim.sweep.report import sweep_progress
    from gcsim.trial.execute import TrialError, plan_trial, prepare_directory, run_trial
    from gcsim.trial.load import load_trial
    from gcsim.trial.outputs import endpoint_table, trial_failure_lines

    try:
        spec = load_trial(file, patients=patients)
        if biomarkers is not None:
            spec = spec.with_biomarkers(biomarkers)
        plan = plan_trial(spec, max_runs)
    except ScenarioError as exc:
        _fail(exc.messages)
    target = out_dir if out_dir is not None else _default_out(spec.spec.name)
    try:
        done = prepare_directory(target, plan, resume)
    except SweepDirectoryError as exc:
        _fail([str(exc)])
    executor = _start_executor(workers, scheduler)
    out.print(
        f"{spec.spec.name}: {len(plan.candidates)} candidates, {len(plan.tasks)} patient runs "
        f"({len(done)} done) on {executor.description}"
    )
    try:
        with _stoppable(), sweep_progress(out, len(plan.tasks), len(done)) as on_result:
            summary = run_trial(spec, plan, target, executor, resume=resume, on_result=on_result)
    except KeyboardInterrupt as exc:
        _stopped(exc, f"finished patients are kept in {target}; rerun with --resume")
    except TrialError as exc:
        err.print(f"error: {exc}")
        raise typer.Exit(RUNS_FAILED) from None
    for line in trial_failure_lines(summary):
        err.print(line)
    if summary.failed:
        err.print(f"{summary.failed} of {summary.total} patient runs failed; rerun with --resume")
        raise typer.Exit(RUNS_FAILED)
    _print_table(endpoint_table(target))
    out.print(f"results: {target} (report: {target / 'report.html'})")


@app.command(
    "trial-calibrate",
    short_help="Reweight a trial's candidate pool to reproduce a published trial's endpoints.",
)
def trial_calibrate(
    file: Annotated[
        Path, typer.Argument(metavar="CALIBRATION.yaml", help="Trial calibration file.")
    ],
    out_dir: Annotated[
        Path | None,
        typer.Option("--out", "-o", metavar="DIR", help="Output (default: <pool>/calibration)."),
    ] = None,
    pool: Annotated[
        Path | None,
        typer.Option("--pool", metavar="DIR", help="The finished pool trial (instead of pool:)."),
    ] = None,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace an earlier calibration's outputs.")
    ] = False,
) -> None:
    """Fit cohort-level distributions by reweighting one pre-simulated pool of candidates (run
    once in every arm by `gcsim trial`, never re-simulated) so that the weighted cohort
    reproduces the targets; write the calibrated trial file (docs/trials.md). Exit 0 if every
    target is inside its interval, 3 if not (everything is still written), 2 on bad input."""
    from gcsim.trial.calibrate import calibrate_trial_command

    try:
        with _stoppable():
            code = calibrate_trial_command(
                file, out_dir, pool, overwrite=overwrite, echo=out.print, error=err.print
            )
    except KeyboardInterrupt as exc:
        _stopped(exc, "nothing was written")
    if code:
        raise typer.Exit(code)


def _start_executor(workers: int | None, scheduler: str | None) -> Any:
    """The executor of ``--workers`` / ``--scheduler`` (a local pool or a Dask cluster), or a
    one-line error and exit 2 if the address is malformed or nothing answers there; warns of
    package versions on Dask workers that differ from this process's."""
    from gcsim.sweep.execute import make_executor

    if scheduler:
        _check_scheduler_address(scheduler)
    try:
        executor = make_executor(workers, scheduler)
    except (OSError, ValueError, TypeError) as exc:  # no scheduler there, or a malformed address
        _fail([f"--scheduler {scheduler}: cannot connect: {exc}"])
    for mismatch in getattr(executor, "version_mismatches", list)():  # Dask workers only
        err.print(f"warning: {mismatch}")
    return executor


def _check_scheduler_address(address: str) -> None:
    """A Dask scheduler address: tcp://HOST:PORT (or tls://, ws://, wss://, inproc://, ucx://)."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(address if "://" in address else f"tcp://{address}")
        port = parts.port
    except ValueError as exc:
        _fail([f"--scheduler {address}: not an address ({exc}); expected tcp://HOST:PORT"])
    if parts.scheme not in {"tcp", "tls", "ws", "wss", "inproc", "ucx"}:
        _fail(
            [f"--scheduler {address}: unknown protocol {parts.scheme!r}; expected tcp://HOST:PORT"]
        )
    if parts.scheme != "inproc" and (not parts.hostname or port is None):
        _fail([f"--scheduler {address}: not an address; expected tcp://HOST:PORT"])


@app.command()
def calibrate(
    file: Annotated[Path, typer.Argument(metavar="CALIBRATION.yaml", help="Calibration file.")],
    out_dir: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            metavar="DIR",
            help="Output folder (default: beside the file, in the folder named after it, "
            "where its design.parquet lives).",
        ),
    ] = None,
    resume: Annotated[
        bool,
        typer.Option(
            "--resume", help="Continue: stored design runs are reused, the ABC history goes on."
        ),
    ] = False,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            "-j",
            metavar="N",
            min=0,
            help="Local worker processes for full runs (default: all cores; 0 = this process).",
        ),
    ] = None,
    scheduler: Annotated[
        str | None,
        typer.Option(
            "--scheduler", metavar="tcp://HOST:PORT", help="Run full runs on this Dask cluster."
        ),
    ] = None,
    stage: Annotated[
        str,
        typer.Option(
            "--stage",
            metavar="STAGE",
            help="design | emulate | abc | confirm | all (each needs the ones before it).",
        ),
    ] = "all",
) -> None:
    """Calibrate parameters to target readouts: design runs, GP emulators, history matching,
    ABC-SMC on the emulator, confirmation runs (docs/calibration.md)."""
    _one_executor(workers, scheduler)
    stages = ("design", "emulate", "abc", "confirm", "all")
    if stage not in stages:
        _fail([f"--stage {stage}: expected one of {', '.join(stages)}"])
    if scheduler:
        _check_scheduler_address(scheduler)
    from gcsim.calibrate.run import CalibrationError, run_calibration
    from gcsim.calibrate.spec import load_calibration
    from gcsim.sweep.execute import SweepDirectoryError

    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            cal = load_calibration(file)
        for warning in caught:
            if warning.category.__module__.startswith("gcsim."):
                err.print(f"warning: {warning.message}")
    except ScenarioError as exc:
        _fail(exc.messages)
    target = out_dir if out_dir is not None else cal.store
    out.print(
        f"{cal.spec.name}: {len(cal.priors)} parameters, {len(cal.targets)} targets; "
        f"stage {stage}; design store {cal.store / 'design.parquet'}; output {target}"
    )
    try:
        with _stoppable():
            summary = run_calibration(
                cal,
                target,
                stage=stage,  # type: ignore[arg-type]
                resume=resume,
                workers=workers,
                scheduler=scheduler,
                log=out.print,
            )
    except KeyboardInterrupt as exc:
        _stopped(exc, f"finished runs are kept in {cal.store}; rerun with --resume")
    except (CalibrationError, SweepDirectoryError, ScenarioError) as exc:
        _fail(exc.messages if isinstance(exc, ScenarioError) else [str(exc)])
    except (OSError, ValueError, TypeError) as exc:
        if scheduler:  # no scheduler there, or a malformed address
            _fail([f"--scheduler {scheduler}: cannot connect: {exc}"])
        raise
    if summary is not None:
        _print_table(_posterior_table(summary))
        if summary["non_identifiable"]:
            err.print(f"note: not identified: {', '.join(summary['non_identifiable'])}")
        if summary["rejected_readouts"]:
            err.print(
                "note: left out (emulator Q² too low): " + ", ".join(summary["rejected_readouts"])
            )
    out.print(f"results: {target}")


def _posterior_table(summary: dict[str, Any]) -> Table:
    table = Table(title=f"{summary['calibration']}: posterior ({summary['chosen_rule']})")
    for column in ("parameter", "median", "90 % interval", "prior range", "identified"):
        table.add_column(column)
    for path, p in summary["parameters"].items():
        low, high = p["interval_90"]
        prior_low, prior_high = p["prior"]["range"]
        table.add_row(
            path,
            f"{p['median']:.4g}",
            f"[{low:.4g}, {high:.4g}]",
            f"[{prior_low:.4g}, {prior_high:.4g}]",
            "yes" if p["identifiable"] else "no",
        )
    confirmation = (summary.get("confirmation") or {}).get("readouts", {})
    for name, c in confirmation.items():
        if c.get("mean") is not None:
            table.add_row(
                f"confirm {name}",
                f"{c['mean']:.4g}",
                f"z = {c['z']:.2f}",
                f"target {summary['targets'][name]['value']:.4g}",
                "ok" if c["consistent"] else "MISFIT",
            )
    return table


@app.command()
def analyze(
    sweep_dir: Annotated[Path, typer.Argument(metavar="SWEEP_DIR", help="A finished sweep.")],
) -> None:
    """Sensitivity indices (Sobol, Morris, RBD-FAST) or main effects of a finished sweep."""
    from gcsim.sweep.analyze import AnalysisError, analyze_sweep
    from gcsim.sweep.report import analysis_table

    try:
        result = analyze_sweep(sweep_dir)
    except AnalysisError as exc:
        _fail([str(exc)])
    _print_table(analysis_table(result))
    for note in result.notes:
        err.print(f"note: {note}")
    for path in result.files:
        out.print(f"wrote {path}")


@app.command(short_help="Run and score the pre-registered pattern suite (scenarios/patterns).")
def patterns(
    only: Annotated[
        list[str] | None,
        typer.Option("--only", metavar="ID", help="Only this pattern (repeatable, or P1,P3)."),
    ] = None,
    replicates: Annotated[
        int | None,
        typer.Option(
            "--replicates",
            "-n",
            min=1,
            max=10_000,
            metavar="N",
            help="Replicates of every scenario instead of the files' (or quick's).",
        ),
    ] = None,
    quick: Annotated[
        bool,
        typer.Option(
            "--quick",
            help="Each file's quick: block (small lattices, a few days): "
            "tests the machinery, not the biology.",
        ),
    ] = False,
    workers: Workers = None,
    scheduler: Scheduler = None,
    out_dir: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            metavar="DIR",
            help="Output directory (default: runs/patterns-<timestamp>).",
        ),
    ] = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="Reuse the finished replicates in --out.")
    ] = False,
    directory: Annotated[
        Path, typer.Option("--dir", metavar="DIR", help="Where the P*.yaml files are.")
    ] = Path("scenarios/patterns"),
    strict: Annotated[
        bool, typer.Option("--strict", help="Exit 1 if any pattern fails (for CI gates).")
    ] = False,
    overrides: Overrides = None,
) -> None:
    """Run the pattern suite and score every check with a 95 % CI; exit 0 unless --strict.
    --set applies to every pattern scenario: to explore, not to score the defaults."""
    _one_executor(workers, scheduler)
    if resume and out_dir is None:
        _fail(["--resume needs --out DIR (the directory to finish)"])
    from gcsim.patterns.spec import load_patterns

    wanted = [part for item in (only or []) for part in item.split(",") if part]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            suite = load_patterns(
                directory, wanted, quick=quick, replicates=replicates, overrides=overrides or ()
            )
        except ScenarioError as exc:
            _fail(exc.messages)
    for warning in caught:
        err.print(f"warning: {warning.message}")
    if out_dir is None:
        import datetime as dt

        out_dir = Path("runs") / f"patterns-{dt.datetime.now():%Y%m%d-%H%M%S}"

    from gcsim.io import write_json, write_parquet
    from gcsim.patterns.report import estimate_text, short_source, write_report
    from gcsim.patterns.run import (
        PatternsDirectoryError,
        plan_tasks,
        prepare_directory,
        provenance,
        readouts_table,
        run_patterns,
        score_patterns,
    )
    from gcsim.sweep.report import sweep_progress

    try:
        prepare_directory(out_dir, resume)  # refuse before starting workers
    except PatternsDirectoryError as exc:
        _fail([str(exc)])
    executor = _start_executor(workers, scheduler)
    total = len(plan_tasks(suite))
    mode = (
        ("quick" if quick else "full") + " mode" + "".join(f", --set {o}" for o in overrides or ())
    )
    out.print(f"{len(suite)} patterns, {total} replicates ({mode}) on {executor.description}")
    try:
        with _stoppable(), sweep_progress(out, total, 0) as on_result:
            run = run_patterns(suite, out_dir, executor, resume=resume, on_result=on_result)
    except KeyboardInterrupt as exc:
        _stopped(exc, f"finished replicates are kept in {out_dir}; rerun with --resume")
    readouts = readouts_table(suite, out_dir)
    write_parquet(out_dir / "readouts.parquet", readouts)
    scored = score_patterns(suite, readouts)
    write_report(out_dir, scored, mode)
    write_json(
        out_dir / "patterns-run.json",
        provenance(run, suite, executor.description) | {"overrides": list(overrides or ())},
    )

    table = Table(title=f"patterns ({mode})", show_header=True)
    for column in ("pattern", "status", "check", "estimate [95 % CI]", "expected", "source"):
        table.add_column(column)
    for pid, entry in scored.items():
        passed = sum(c["status"] == "PASS" for c in entry["checks"])
        table.add_row(
            pid,
            entry["status"],
            f"{passed}/{len(entry['checks'])} checks",
            "",
            "",
            short_source(entry["source"]),
        )
        for c in entry["checks"]:
            detail = c["detail"] if c["status"] == "ERROR" or c["estimate"] is None else ""
            table.add_row("", c["status"], c["id"], estimate_text(c), c["expected"], detail)
    _print_table(table)
    if run.skipped:
        out.print(f"{run.skipped} of {run.total} replicates reused from {out_dir}")
    for record in run.failed:
        err.print(f"{record['run_id']}: {record['error']}")
    out.print(f"results: {out_dir}")
    failing = [pid for pid, entry in scored.items() if entry["status"] != "PASS"]
    if strict and failing:
        err.print(f"{len(failing)} of {len(scored)} patterns fail: {', '.join(failing)}")
        raise typer.Exit(1)


if __name__ == "__main__":
    app()
