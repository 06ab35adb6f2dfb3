"""The demo page's figures, without a browser: every overlay and the live plots draw."""

from __future__ import annotations

import numpy as np
import pytest

from gcsim.app import (
    OVERLAY_CAPTIONS,
    OVERLAYS,
    control_values,
    lattice_figure,
    model_params,
    plots_figure,
)
from gcsim.demo import DemoModel
from gcsim.scenario import Scenario

BASE = Scenario.model_validate(
    {
        "name": "page",
        "domain": {"width": 40, "height": 40},
        "time": {"days": 10, "record_every_hours": 6},
        "tumor": {"initial_radius_um": 200},
    }
)


@pytest.fixture(scope="module")
def treated():
    """Every therapy on, one simulated day in."""
    model = DemoModel(
        base=BASE,
        ici=True,
        ici_start_day=0,
        antivegf_mg_per_kg=5,
        rt_gy_per_fraction=2,
        chemotherapy=True,
    )
    for _ in range(24):
        model.step()
    return model


def _pixels(fig) -> np.ndarray:
    fig.canvas.draw()
    return np.asarray(fig.canvas.buffer_rgba())[..., :3]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_overlay_draws_and_changes_the_picture(treated, overlay):
    assert overlay in OVERLAY_CAPTIONS
    picture = _pixels(lattice_figure(treated, overlay))
    if overlay != "cells":
        assert not np.array_equal(picture, _pixels(lattice_figure(treated, "cells")))


def test_live_plots_draw_the_recorded_metrics(treated):
    fig = plots_figure(treated)
    axes = [ax for ax in fig.axes if ax.get_visible()]
    assert len(axes) == 5
    occupancy = next(line for line in axes[4].lines if line.get_label() == "PD-1 occupancy")
    assert len(occupancy.get_xdata()) == 5  # day 0 and every 6 h
    assert max(occupancy.get_ydata()) > 0


def test_controls_cover_the_teachers_list_and_build_a_model():
    params = model_params(BASE)
    wanted = {"seed", "phenotype", "ici", "antivegf_mg_per_kg", "rt_gy_per_fraction"}
    wanted |= {"rt_start_day", "rt_fractions", "chemotherapy"}
    assert wanted <= set(params)
    assert params["base"] is BASE  # fixed, passed through to the model on reset

    model = DemoModel(**control_values(params))  # as SolaraViz does on Reset, and Page first
    assert model.treatment_lines() == []  # every therapy starts off
    for name, value in params.items():
        if isinstance(value, dict) and value["type"] == "Select":
            assert value["value"] in value["values"], name  # the shown choice is a real one
    # every offered start day falls inside the run, so any choice is a valid scenario
    assert max(params["ici_start_day"]["values"]) < BASE.time.days
    assert max(params["rt_start_day"]["values"]) < BASE.time.days


def test_the_first_model_is_the_one_the_controls_show():
    # A page opened on a desert scenario shows "desert" in its phenotype control; the model it
    # starts with (built from control_values, as Page does) must be a desert tumour too.
    desert = BASE.model_copy(
        update={"immune": BASE.immune.model_copy(update={"phenotype": "desert"})}
    )
    params = model_params(desert)
    assert params["phenotype"]["value"] == "desert"
    model = DemoModel(**control_values(params))
    assert model.spec.immune.phenotype == "desert"
