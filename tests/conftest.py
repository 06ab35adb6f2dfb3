"""Shared fixtures: small lattices that run in seconds."""

from __future__ import annotations

import pytest

from gcsim.model import GastricTumorModel

SMALL = {
    "domain__width": 60,
    "domain__height": 60,
    "tumor__initial_radius_um": 300.0,
    "time__days": 10.0,
    "time__record_every_hours": 24.0,
}


def small_model(seed: int = 1, **fields) -> GastricTumorModel:
    """A 60 × 60 lattice (1.2 mm) with a 300 µm tumour; keyword overrides as in the model."""
    return GastricTumorModel(rng=seed, **{**SMALL, **fields})


@pytest.fixture(scope="session")
def ran_small_model() -> GastricTumorModel:
    """One small model run to its end (10 days), shared by read-only tests."""
    model = small_model()
    model.run()
    return model
