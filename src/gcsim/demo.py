"""The classroom demo's model, without the web page: the controls a teacher sets, mapped to a
scenario of one treatment arm.

Kept free of Solara so that the mapping is a plain function with a plain unit test; the page is
``gcsim.app``. Doses are the usual clinical ones (docs/therapies.md); only what a teacher needs
to vary is a control.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from gcsim.model import GastricTumorModel
from gcsim.scenario.schema import Scenario

ARM = "demo"
SCENARIO_ENV = "GCSIM_DEMO_SCENARIO"  # how `gcsim demo FILE` hands its file to the page module
ICI_INTERVAL_DAYS = 21  # pembrolizumab 200 mg every three weeks
ANTIVEGF_INTERVAL_DAYS = 14  # bevacizumab every two weeks
CHEMO_CYCLE_DAYS = 21  # XELOX: oxaliplatin day 1, capecitabine twice daily days 1-14, q3w
DEMO_RECORD_HOURS = 6.0  # live plots gain a point every 6 simulated hours

# A lattice the page redraws quickly (2 × 2 mm) and long enough for treatments to act.
DEFAULT_BASE = {
    "name": "demo",
    "description": "Classroom demo: a 2 mm section with a 500 µm tumour, 60 days.",
    "seed": 1,
    "domain": {"width": 100, "height": 100},
    "time": {"days": 60, "record_every_hours": DEMO_RECORD_HOURS},
    "tumor": {"initial_radius_um": 500, "pdl1_cps": 5},
}


def offline_environment(scenario: str | Path | None = None) -> dict[str, str]:
    """Environment variables for the Solara server of ``gcsim demo``: the page must work in a
    classroom with no internet, and nothing may leave the machine.

    - the browser loads every asset from this server (``SOLARA_ASSETS_PROXY``), which serves
      them from the files the ``solara-assets`` package installs;
    - the server's own CDN is a closed local port, so an asset missing from those files fails
      at once, the same with or without a network, instead of being fetched from the internet;
    - Solara's usage telemetry (which calls out to two web services) is off.
    """
    env = {
        "SOLARA_ASSETS_PROXY": "True",
        "SOLARA_ASSETS_CDN": "http://127.0.0.1:9/",  # discard port: nothing listens there
        "SOLARA_TELEMETRY_MIXPANEL_ENABLE": "False",
    }
    if scenario is not None:
        env[SCENARIO_ENV] = str(Path(scenario).resolve())
    return env


def server_command(host: str, port: int) -> list[str]:
    """The Solara server of ``gcsim demo`` (run with ``offline_environment``): production mode,
    no browser opened, and no check of PyPI for a newer Solara (a request off the machine)."""
    import sys

    return [
        sys.executable,
        "-m",
        "gcsim.demo",  # solara's own command line, with Ctrl-C as a clean stop (``serve``)
        "run",
        "gcsim.app",
        "--host",
        host,
        "--port",
        str(port),
        "--production",
        "--no-open",
        "--no-check-version",
        "--log-level",
        "warning",
    ]


def _days(start: float, interval: float, end: float) -> list[float]:
    """Dosing days ``start, start + interval, …`` strictly before ``end`` (the last day)."""
    days = []
    day = float(start)
    while day < end:
        days.append(day)
        day += interval
    return days


def _every(start: float, interval: float, end: float) -> dict[str, Any]:
    return {"days": _days(start, interval, end)}


# The demo's sensitiser menu: each entry's doses and schedules as in
# scenarios/sensitisers/panel.yaml (docs/therapies.md), from day 0 to the end of the run.
SENSITISERS: dict[str, Any] = {
    "none": lambda end: [],
    "entinostat (HDAC inhibitor)": lambda end: [
        {"type": "hdac_inhibitor", "drug": "entinostat", "dose": {"value": 5, "unit": "mg"},
         "schedule": _every(0, 7, end)}
    ],
    "epacadostat (IDO1 inhibitor)": lambda end: [
        {"type": "ido1_inhibitor", "drug": "epacadostat", "dose": {"value": 100, "unit": "mg"},
         "schedule": _every(0, 0.5, end)}
    ],
    "LSD1 inhibitor": lambda end: [
        {"type": "lsd1_inhibitor", "drug": "lsd1i", "dose": {"value": 10, "unit": "mg"},
         "schedule": _every(0, 1, end)}
    ],
    "metformin": lambda end: [
        {"type": "metformin", "dose": {"value": 1000, "unit": "mg"},
         "schedule": _every(0, 0.5, end)}
    ],
    "olaparib (PARP inhibitor)": lambda end: [
        {"type": "parp_inhibitor", "drug": "olaparib", "dose": {"value": 300, "unit": "mg"},
         "schedule": _every(0, 0.5, end)}
    ],
    "hyperbaric oxygen": lambda end: [
        {"type": "hyperbaric_oxygen", "pressure_ata": 2.5, "session_hours": 1.5,
         "schedule": _every(0, 1, min(end, 14))}
    ],
    "microbiota transplant": lambda end: [
        {"type": "faecal_microbiota_transplant", "schedule": {"days": [0]}}
    ],
    "oncolytic virus (intratumoral)": lambda end: [
        {"type": "oncolytic_virus", "route": "intratumoral",
         "first_dose": {"value": 1.0e6, "unit": "PFU/mL"},
         "dose": {"value": 1.0e8, "unit": "PFU/mL"}, "injected_fraction": 0.2,
         "schedule": {"days": [d for d in (0, 21, 35) if d < end]}}
    ],
}  # fmt: skip
"""Each sensitiser the demo offers, as a function of the run's end (days) giving its entries."""


def scenario_from_controls(
    base: Scenario,
    *,
    seed: int = 1,
    phenotype: str = "inflamed",
    ici: bool = False,
    ici_start_day: float = 7.0,
    antivegf_mg_per_kg: float = 0.0,
    rt_gy_per_fraction: float = 0.0,
    rt_start_day: float = 0.0,
    rt_fractions: int = 1,
    chemotherapy: bool = False,
    sensitiser: str = "none",
) -> Scenario:
    """``base`` with the demo's seed and phenotype and one arm, ``demo``, of the treatments the
    controls turn on (doses that would fall after the end of the simulation are not given).

    - ``ici``: pembrolizumab 200 mg every 21 days from ``ici_start_day``;
    - ``antivegf_mg_per_kg`` > 0: bevacizumab at that dose every 14 days from day 0;
    - ``rt_gy_per_fraction`` > 0: ``rt_fractions`` daily fractions from ``rt_start_day``;
    - ``chemotherapy``: XELOX (oxaliplatin 130 mg/m² on day 1 and capecitabine 1000 mg/m² twice
      daily on days 1-14 of each 21-day cycle);
    - ``sensitiser``: one of ``SENSITISERS`` (``"none"``: off), at the sensitiser panel's doses.

    The result is validated like a scenario file (ValueError on an impossible combination).
    """
    end = base.time.days
    treatments: list[dict[str, Any]] = []
    if ici and ici_start_day < end:
        treatments.append(
            {
                "type": "checkpoint_inhibitor",
                "drug": "pembrolizumab",
                "dose": {"value": 200, "unit": "mg"},
                "schedule": {"days": _days(ici_start_day, ICI_INTERVAL_DAYS, end)},
            }
        )
    if antivegf_mg_per_kg > 0:
        treatments.append(
            {
                "type": "anti_vegf",
                "drug": "bevacizumab",
                "dose": {"value": antivegf_mg_per_kg, "unit": "mg/kg"},
                "schedule": {"days": _days(0, ANTIVEGF_INTERVAL_DAYS, end)},
            }
        )
    rt_days = [rt_start_day + i for i in range(rt_fractions) if rt_start_day + i < end]
    if rt_gy_per_fraction > 0 and rt_days:
        treatments.append(
            {
                "type": "radiotherapy",
                "dose_per_fraction": {"value": rt_gy_per_fraction, "unit": "Gy"},
                "schedule": {"days": rt_days},
            }
        )
    if chemotherapy:
        cycles = _days(0, CHEMO_CYCLE_DAYS, end)
        capecitabine = [c + k / 2 for c in cycles for k in range(28) if c + k / 2 < end]
        treatments += [
            {
                "type": "chemotherapy",
                "drug": "oxaliplatin",
                "dose": {"value": 130, "unit": "mg/m2"},
                "infusion_hours": 2,
                "schedule": {"days": cycles},
            },
            {
                "type": "chemotherapy",
                "drug": "capecitabine",
                "dose": {"value": 1000, "unit": "mg/m2"},
                "infusion_hours": 0,
                "schedule": {"days": capecitabine},
            },
        ]
    if sensitiser not in SENSITISERS:
        raise ValueError(f"unknown sensitiser {sensitiser!r} (one of: {', '.join(SENSITISERS)})")
    treatments += SENSITISERS[sensitiser](end)
    data = base.model_dump()
    data["seed"] = int(seed)
    data["immune"] = {**data["immune"], "phenotype": phenotype}
    data["arms"] = {ARM: {"treatments": treatments}}
    data["replicates"] = 1
    return Scenario.model_validate(data)


def demo_base_scenario(path: str | Path | None = None) -> Scenario:
    """The scenario the demo starts from: ``path`` (a YAML file), else $GCSIM_DEMO_SCENARIO,
    else a small default. Metrics are recorded every 6 h where the time step allows it, so the
    live plots move while the model plays."""
    from gcsim.scenario.loader import load_scenario

    path = path or os.environ.get(SCENARIO_ENV) or None
    base = load_scenario(Path(path)) if path else Scenario.model_validate(DEFAULT_BASE)
    time = base.time
    steps = DEMO_RECORD_HOURS / time.dt_hours
    if time.record_every_hours > DEMO_RECORD_HOURS and abs(steps - round(steps)) < 1e-9:
        base = base.model_copy(
            update={"time": time.model_copy(update={"record_every_hours": DEMO_RECORD_HOURS})}
        )
    return base


def parse_seed(value: int | str) -> int:
    """The seed box is free text: a whole number ≥ 0, anything else means seed 1."""
    try:
        return max(0, int(str(value).strip()))
    except ValueError:
        return 1


class DemoModel(GastricTumorModel):
    """The model behind the page: built from the controls (keyword arguments, as Mesa's
    SolaraViz passes them on reset) over a base scenario.

    The signature names every control and takes no ``scenario`` or ``**kwargs``: SolaraViz
    would otherwise pass a Mesa scenario object of its own on reset.
    """

    def __init__(
        self,
        *,
        base: Scenario | None = None,
        seed: int | str = 1,
        phenotype: str = "inflamed",
        ici: bool = False,
        ici_start_day: float = 7.0,
        antivegf_mg_per_kg: float = 0.0,
        rt_gy_per_fraction: float = 0.0,
        rt_start_day: float = 0.0,
        rt_fractions: int = 1,
        chemotherapy: bool = False,
        sensitiser: str = "none",
    ) -> None:
        seed = parse_seed(seed)
        scenario = scenario_from_controls(
            base if base is not None else demo_base_scenario(),
            seed=seed,
            phenotype=phenotype,
            ici=ici,
            ici_start_day=ici_start_day,
            antivegf_mg_per_kg=antivegf_mg_per_kg,
            rt_gy_per_fraction=rt_gy_per_fraction,
            rt_start_day=rt_start_day,
            rt_fractions=int(rt_fractions),
            chemotherapy=chemotherapy,
            sensitiser=sensitiser,
        )
        super().__init__(scenario, rng=seed, arm=ARM)

    def treatment_lines(self) -> list[str]:
        """One line per treatment of this model's arm, for the page."""
        lines = []
        for treatment in self.spec.arms[ARM].treatments:
            days = treatment.schedule.dose_days()
            shown = ", ".join(f"{d:g}" for d in days[:6]) + (" …" if len(days) > 6 else "")
            dose = getattr(treatment, "dose", None)  # drugs; radiotherapy names its dose
            amount = f" {dose.value:g} {dose.unit}" if dose is not None else ""
            lines.append(f"{treatment.name()}{amount}: day {shown}")
        return lines


def serve(argv: list[str]) -> int:
    """Solara's command line (``solara ARGV``) for ``gcsim demo``: Ctrl-C, the documented way
    to stop the demo, ends it with one line and exit 0 rather than click's "Aborted!" and 1."""
    import click
    from solara.__main__ import cli

    try:
        cli.main(argv, prog_name="gcsim demo", standalone_mode=False)
    except (KeyboardInterrupt, click.exceptions.Abort):
        pass
    print("gcsim demo: stopped", flush=True)
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(serve(sys.argv[1:]))
