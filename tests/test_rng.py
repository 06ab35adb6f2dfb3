"""The kernels' random numbers are the model's NumPy stream, draw for draw.

``gcsim.kernels.rng`` reaches numba's bit-generator routines through a handle and calls numba
modules that are not public API; if numba or NumPy change underneath, these tests part first.
"""

from __future__ import annotations

import copy
import gc
import pickle
from pathlib import Path

import numpy as np
import pytest
from numba import njit

from conftest import small_model
from gcsim.kernels.rng import random_index, shuffle, shuffled_sites, stream_handle, uniform
from gcsim.model import GastricTumorModel


@njit
def _draws(rng, sizes, values):
    """Interleaved uniform and bounded draws, then a shuffle of ``values``."""
    out = np.empty(2 * sizes.shape[0])
    for i in range(sizes.shape[0]):
        out[2 * i] = uniform(rng)
        out[2 * i + 1] = random_index(rng, sizes[i])
    shuffle(rng, values)
    return out


def _numpy_draws(rng, sizes, values):
    out = []
    for n in sizes:
        out.append(rng.random())
        out.append(float(rng.integers(0, n)))
    rng.shuffle(values)
    return np.array(out)


@pytest.mark.parametrize("passed", ["generator", "handle"])
def test_kernel_draws_are_numpys_draws(passed):
    sizes = np.resize(np.arange(1, 10), 3000)  # 1 draws nothing, as integers(0, 1)
    ours, reference = np.random.default_rng(21), np.random.default_rng(21)
    values, expected_values = np.arange(1000), np.arange(1000)
    rng = ours if passed == "generator" else stream_handle(ours)

    drawn = _draws(rng, sizes, values)

    np.testing.assert_array_equal(drawn, _numpy_draws(reference, sizes, expected_values))
    np.testing.assert_array_equal(values, expected_values)
    assert ours.random() == reference.random()  # same state afterwards: same number of draws


def test_python_reference_draws_are_numpys_draws():
    # Kernel tests compare compiled kernels with their py_func; there these are plain NumPy.
    sizes = np.arange(1, 50)
    ours, reference = np.random.default_rng(5), np.random.default_rng(5)
    values, expected_values = np.arange(100), np.arange(100)
    drawn = _draws.py_func(ours, sizes, values)
    np.testing.assert_array_equal(drawn, _numpy_draws(reference, sizes, expected_values))
    np.testing.assert_array_equal(values, expected_values)


@pytest.mark.parametrize("codes", [(1, 4), (0,), (0, 2)])
def test_shuffled_sites_is_a_shuffled_flatnonzero(codes):
    # mostly empty, with a 37 × 23 shape whose size is not a multiple of the 8-site words
    layer = np.random.default_rng(1).integers(0, 5, (37, 23)).astype(np.int8)
    layer[np.random.default_rng(2).random(layer.shape) < 0.7] = 0
    selected = np.zeros(256, dtype=np.bool_)
    selected[list(codes)] = True
    ours, reference = np.random.default_rng(8), np.random.default_rng(8)
    out = np.full(layer.size, -1, dtype=np.int64)

    n = shuffled_sites(stream_handle(ours), layer, selected, out)

    expected = np.flatnonzero(np.isin(layer, codes))
    reference.shuffle(expected)
    assert n == expected.size
    np.testing.assert_array_equal(out[:n], expected)
    assert ours.random() == reference.random()


def test_a_copied_model_draws_from_its_own_generator():
    model = small_model(seed=4)
    model.step()
    twin = copy.deepcopy(model)
    assert twin.kernel_rng != model.kernel_rng  # the copy's handle is rebuilt for its generator
    before = model.rng.bit_generator.state
    for _ in range(3):
        twin.step()
    assert model.rng.bit_generator.state == before  # stepping the copy drew nothing from ours
    model.rng = np.random.default_rng(0)
    assert model.kernel_rng == stream_handle(model.rng)  # a replaced generator is followed


def test_a_handle_keeps_its_generator_alive():
    handle = stream_handle(np.random.default_rng(11))  # the only reference to that Generator
    gc.collect()
    values = np.arange(50)
    drawn = _draws(handle, np.arange(1, 20), values)
    expected_values = np.arange(50)
    expected = _numpy_draws(np.random.default_rng(11), np.arange(1, 20), expected_values)
    np.testing.assert_array_equal(drawn, expected)
    np.testing.assert_array_equal(values, expected_values)


def test_shuffled_sites_refuses_what_it_would_misread():
    rng, table = np.random.default_rng(0), np.zeros(256, dtype=np.bool_)
    table[1] = True
    codes = np.ones((4, 5), dtype=np.int8)
    with pytest.raises(ValueError, match="one-byte"):
        shuffled_sites(rng, codes.astype(np.int64), table, np.empty(20, np.int64))
    with pytest.raises(ValueError, match="one-byte"):
        shuffled_sites(rng, codes, table, np.empty(19, np.int64))  # no room for every site
    with pytest.raises(ValueError, match="one-byte"):
        shuffled_sites(rng, codes, table[:128], np.empty(20, np.int64))
    assert shuffled_sites(rng, codes, table, np.empty(20, np.int64)) == 20


def test_a_copied_or_pickled_handle_draws_from_its_own_generator():
    generator = np.random.default_rng(9)
    handle = stream_handle(generator)
    for twin in (copy.deepcopy(handle), pickle.loads(pickle.dumps(handle))):
        assert twin.owner is not generator.bit_generator
        assert twin.state_address != handle.state_address
        expected = np.random.Generator(copy.deepcopy(twin.owner)).random(5)
        del handle, generator
        gc.collect()
        drawn = _draws(twin, np.ones(5, dtype=np.int64), np.arange(0))[::2]
        np.testing.assert_array_equal(drawn, expected)
        generator = np.random.default_rng(9)
        handle = stream_handle(generator)
    with pytest.raises(TypeError, match="stream_handle"):
        handle._replace(state=0)


@pytest.mark.parametrize(
    ("scenario", "arm"),
    [("chemo_ici.yaml", "xelox_nivolumab"), ("radiation_dose.yaml", "inflamed_ld_ici")],
)
def test_a_model_drawing_through_its_handle_equals_one_drawing_from_its_generator(
    scenario, arm, monkeypatch
):
    # Every kernel the model and its therapies call, chemotherapy and radiation included.
    path = Path(__file__).resolve().parent.parent / "scenarios" / scenario
    fields = {"domain__width": 50, "domain__height": 50, "tumor__initial_radius_um": 250.0}

    def run() -> GastricTumorModel:
        model = GastricTumorModel(path, arm=arm, rng=7, **fields)
        for _ in range(60):
            model.step()
        return model

    handled = run()
    monkeypatch.setattr(GastricTumorModel, "kernel_rng", property(lambda model: model.rng))
    direct = run()
    for name, array in handled.state.arrays().items():
        np.testing.assert_array_equal(array, getattr(direct.state, name), err_msg=name)
    assert handled.counters == direct.counters
    assert handled.rng.bit_generator.state == direct.rng.bit_generator.state
