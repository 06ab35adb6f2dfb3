"""The classroom demo page (``gcsim demo``): Mesa's SolaraViz around ``gcsim.demo.DemoModel``.

SolaraViz gives the play / step / reset buttons and the parameter controls; this module adds the
lattice (cells coloured by type, with a switchable overlay of oxygen, VEGF, vessel perfusion or
PD-L1, and a legend), the live plots and a card saying what the current model is treated with.
Controls take effect on *Reset*, which builds a new model from them (SolaraViz's rule).

Serve with ``gcsim demo`` (which also keeps the page offline), or ``solara run gcsim.app``.
"""

from __future__ import annotations

from typing import Any

import matplotlib

matplotlib.use("Agg")
import numpy as np
import solara
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from mesa.visualization import SolaraViz
from mesa.visualization.utils import update_counter

from gcsim.demo import SENSITISERS, DemoModel, demo_base_scenario
from gcsim.kernels.common import vessel_flow
from gcsim.observe import immune_pdl1
from gcsim.plots import EXPOSURE_STYLES, exposure_fraction, lattice_image, legend_handles
from gcsim.scenario import Scenario
from gcsim.state import TUMOR, VESSEL

OVERLAYS = ("cells", "oxygen", "VEGF", "perfusion", "PD-L1")  # perfusion: of each vessel
OVERLAY_CAPTIONS = {
    "cells": "Cells by type (legend below); immune cells over the tissue site they sit on.",
    "oxygen": "Overlay: oxygen (mmHg), supplied by perfused vessels, consumed by cells.",
    "VEGF": "Overlay: VEGF (ng/mL), secreted by hypoxic tumour cells.",
    "perfusion": "Overlay: perfusion of each vessel (0 = none, 1 = mature and fully perfused).",
    "PD-L1": "Overlay: PD-L1 expression (0-1) of tumour and immune cells.",
}
# SolaraViz's render interval: one press of Step runs 5 model steps (5 h at the demo's 1-h steps;
# its slider, min 1 step 2, only reaches odd values)
STEPS_PER_STEP_BUTTON = 5


def overlay_field(model: DemoModel, overlay: str) -> tuple[np.ma.MaskedArray, str, str, float]:
    """The overlay's values (masked where it does not apply), label, colour map and maximum."""
    s, p = model.state, model.params
    if overlay == "oxygen":
        return np.ma.asarray(s.oxygen), "oxygen (mmHg)", "viridis", p["oxygen.blood"]
    if overlay == "VEGF":
        vegf = np.asarray(s.vegf, dtype=float)
        return np.ma.asarray(vegf), "VEGF (ng/mL)", "magma", max(float(vegf.max()), 1e-6)
    if overlay == "perfusion":
        flow = vessel_flow(s.tissue, s.maturity, p["vessel.perfusion_threshold"])
        return np.ma.masked_where(s.tissue != VESSEL, flow), "vessel perfusion (0-1)", "RdYlGn", 1
    if overlay == "PD-L1":
        pdl1 = np.where(s.tissue == TUMOR, s.pdl1, 0.0)
        immune = immune_pdl1(model)
        pdl1 = np.where(s.immune > 0, immune, pdl1)
        cells = (s.tissue == TUMOR) | (s.immune > 0)
        return np.ma.masked_where(~cells, pdl1), "PD-L1 expression (0-1)", "plasma", 1.0
    raise ValueError(f"unknown overlay {overlay!r}; choose from {OVERLAYS}")


def lattice_figure(model: DemoModel, overlay: str) -> Figure:
    """Cells coloured by type, the overlay (if any) over them, and a legend of every colour."""
    fig = Figure(figsize=(6.4, 6.0), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    width, height = model.state.tissue.shape
    extent = [0, width * model.site_um / 1000, 0, height * model.site_um / 1000]
    ax.imshow(lattice_image(model), origin="lower", extent=extent, interpolation="nearest")
    if overlay != OVERLAYS[0]:
        values, label, cmap, vmax = overlay_field(model, overlay)
        alpha = 0.95 if overlay in ("perfusion", "PD-L1") else 0.7
        image = ax.imshow(
            values.T,
            origin="lower",
            extent=extent,
            cmap=cmap,
            vmin=0,
            vmax=vmax,
            alpha=alpha,
            interpolation="nearest",
        )
        fig.colorbar(image, ax=ax, shrink=0.7, label=label)
    ax.set_title(f"day {model.time_h / 24:.2f}")
    ax.set_xlabel("mm")
    ax.set_ylabel("mm")
    fig.legend(handles=legend_handles(), loc="outside lower center", ncol=5, fontsize=8)
    return fig


PANELS = (
    ("viable tumour (mm²)", (("viable_tumor_mm2", "viable tumour"),)),
    ("CD8 T cells (cells/mm²)", (("cd8_core_per_mm2", "core"), ("cd8_margin_per_mm2", "margin"))),
    (
        "suppressive cells (count)",
        (("treg_cells", "Tregs"), ("mdsc_cells", "MDSCs"), ("m2_macrophages", "M2 macrophages")),
    ),
    ("hypoxic fraction of tumour", (("hypoxic_fraction", "hypoxic"),)),
    ("drug exposure (0-1)", tuple((column, name) for column, _, name in EXPOSURE_STYLES)),
)


def plots_figure(model: DemoModel) -> Figure:
    """The live plots: one panel per group of metrics against days; radiotherapy fractions are
    marked on the exposure panel."""
    table = model.datacollector.get_model_vars_dataframe()
    days = table["time_h"].to_numpy() / 24.0
    end_day = model.end_steps * model.dt_h / 24.0
    fig = Figure(figsize=(6.4, 8.0), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(3, 2).flat
    for ax, (label, columns) in zip(axes, PANELS, strict=False):
        for column, name in columns:
            values = exposure_fraction(column, table[column].to_numpy(dtype=float))
            ax.plot(days, values, marker=".", markersize=3, label=name)  # one point shows
        if len(columns) > 1:
            ax.legend(fontsize=7, loc="upper left")
        ax.set_title(label, fontsize=9)
        ax.set_xlim(0, end_day)
        ax.set_xlabel("day", fontsize=8)
        ax.tick_params(labelsize=7)
    exposure = fig.axes[4]
    exposure.set_ylim(-0.05, 1.05)
    for treatment in model.spec.arms[model.arm].treatments:
        if treatment.marks_doses:
            for day in treatment.schedule.dose_days():
                exposure.axvline(day, color="crimson", linewidth=0.8, linestyle=":")
    fig.axes[5].set_visible(False)
    return fig


@solara.component
def LatticeView(model: DemoModel) -> None:
    """The lattice card: overlay buttons above the picture."""
    update_counter.get()  # redraw after every step and reset
    overlay, set_overlay = solara.use_state(OVERLAYS[0])
    effects = model.effects
    with solara.Card("Lattice", classes=["gcsim-lattice"]):
        # time, treatments and what they do right now: how a teacher sees a control took effect
        with solara.Column(gap="2px"):
            solara.Text(f"Day {model.time_h / 24:.2f} ({model.time_h:g} h)", classes=["gcsim-day"])
            with solara.Column(classes=["gcsim-treatments"], gap="0px"):
                for line in model.treatment_lines() or ["untreated"]:
                    solara.Text(line, style={"font-size": "0.9em"})
            solara.Text(
                f"PD-1 occupancy {effects.pd1_occupancy:.2f} · VEGF blockade "
                f"{effects.vegf_block:.2f} · T-cell priming {model.priming_level:.2f}",
                classes=["gcsim-effects"],
                style={"font-size": "0.9em"},
            )
            solara.Text(
                "Change a control, then press Reset to start a new tumour with it.",
                style={"font-size": "0.8em", "color": "grey"},
            )
        solara.ToggleButtonsSingle(
            value=overlay, values=list(OVERLAYS), on_value=set_overlay, dense=True
        )
        solara.Div(  # a block of its own, below the buttons
            children=[OVERLAY_CAPTIONS[overlay]],
            classes=["gcsim-overlay"],
            style={"font-size": "0.8em", "margin-top": "4px"},
        )
        solara.FigureMatplotlib(
            lattice_figure(model, overlay), format="png", dependencies=None, dpi=80
        )


@solara.component
def PlotsView(model: DemoModel) -> None:
    update_counter.get()
    with solara.Card("Dynamics", classes=["gcsim-plots"]):
        solara.FigureMatplotlib(plots_figure(model), format="png", dependencies=None, dpi=80)


def _choice(label: str, value: Any, values: list[Any]) -> dict[str, Any]:
    """A drop-down (Mesa's sliders do not show their value; a teacher must see the dose)."""
    return {"type": "Select", "label": label, "value": value, "values": values}


def model_params(base: Scenario | None = None) -> dict[str, Any]:
    """SolaraViz controls (name → input) and the fixed base scenario."""
    base = base if base is not None else demo_base_scenario()

    def days(*candidates: int) -> list[int]:
        return [d for d in candidates if d < base.time.days]  # doses must fall inside the run

    ici_days, rt_days = days(0, 3, 7, 14, 21, 28), days(0, 1, 3, 7, 14, 21)
    return {
        "base": base,  # fixed: not a control
        "seed": {"type": "InputText", "value": 1, "label": "Seed"},
        "phenotype": _choice(
            "Immune phenotype", base.immune.phenotype, ["inflamed", "excluded", "desert"]
        ),
        "ici": {"type": "Checkbox", "value": False, "label": "ICI (pembrolizumab)"},
        "ici_start_day": _choice("ICI from day", 7 if 7 in ici_days else 0, ici_days),
        "antivegf_mg_per_kg": _choice(
            "Bevacizumab, mg/kg every 2 weeks (0 = off)", 0, [0, 2.5, 5, 7.5, 10, 15, 30]
        ),
        "rt_gy_per_fraction": _choice(
            "Radiotherapy, Gy per fraction (0 = off)", 0, [0, 0.5, 1, 2, 4, 8, 12, 20]
        ),
        "rt_start_day": _choice("Radiotherapy from day", 0, rt_days),
        "rt_fractions": _choice("Radiotherapy fractions (daily)", 1, [1, 2, 3, 4, 5]),
        "chemotherapy": {"type": "Checkbox", "value": False, "label": "Chemotherapy (XELOX)"},
        "sensitiser": _choice("Sensitiser", "none", list(SENSITISERS)),
    }


def control_values(params: dict[str, Any]) -> dict[str, Any]:
    """The keyword arguments of ``DemoModel`` that ``params`` show, as SolaraViz passes them on
    Reset: fixed values as they are, inputs at their current value."""
    return {name: v["value"] if isinstance(v, dict) else v for name, v in params.items()}


@solara.component
def Page() -> None:
    """One model per browser session (``use_memo``), so two classrooms tabs do not share one.
    The first model is built from the controls' values, so the page shows what they say."""
    params = solara.use_memo(model_params, [])
    model = solara.use_memo(lambda: DemoModel(**control_values(params)), [])
    solara.Title("gcsim demo: a gastric tumour under treatment")  # the browser tab's name
    SolaraViz(
        model,
        components=[(LatticeView, 0), (PlotsView, 0)],
        model_params=params,
        render_interval=STEPS_PER_STEP_BUTTON,
        play_interval=50,
        name="gcsim: a gastric tumour under treatment",
    )
