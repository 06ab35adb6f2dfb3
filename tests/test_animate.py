"""`gcsim run --snapshots-every` and `gcsim animate`: readable GIF and MP4, a frame per snapshot."""

from __future__ import annotations

import json

import imageio.v2 as imageio_v2
import imageio.v3 as iio
import numpy as np
import pytest
from typer.testing import CliRunner

from gcsim.cli import app
from gcsim.snapshots import load_snapshots

SCENARIO = """\
name: tiny
seed: 5
domain: {width: 40, height: 40}
time: {days: 1, record_every_hours: 6}
tumor: {initial_radius_um: 200}
arms:
  untreated: []
  pembrolizumab:
    - {type: checkpoint_inhibitor, drug: pembrolizumab, dose: {value: 200, unit: mg},
       schedule: {start_day: 0}}
"""


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A two-arm run of one day with a snapshot every 6 h: frames at 0, 6, 12, 18 and 24 h."""
    root = tmp_path_factory.mktemp("animate")
    scenario = root / "tiny.yaml"
    scenario.write_text(SCENARIO)
    out = root / "run"
    args = ["run", str(scenario), "--out", str(out), "--workers", "0", "--snapshots-every", "6"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    return out


def test_run_stores_snapshots_listed_in_run_json(run_dir):
    manifest = json.loads((run_dir / "run.json").read_text())
    assert {"snapshots_untreated.npz", "snapshots_pembrolizumab.npz"} <= set(manifest["files"])
    assert manifest["snapshots_every_hours"] == 6
    snapshots = load_snapshots(run_dir / "snapshots_untreated.npz")
    assert snapshots.time_h.tolist() == [0, 6, 12, 18, 24]
    assert snapshots.tissue.dtype == np.int8 and snapshots.immune.dtype == np.int8
    assert snapshots.tissue.shape == (5, 40, 40)
    assert snapshots.site_um == 20.0
    # the lattice changes over a day: the frames are not copies of the first one
    assert not np.array_equal(snapshots.immune[0], snapshots.immune[-1])


def test_animate_writes_readable_gif_and_mp4_with_one_frame_per_snapshot(run_dir, tmp_path):
    out = tmp_path / "slides"
    result = CliRunner().invoke(app, ["animate", str(run_dir), "--fps", "5", "--out", str(out)])
    assert result.exit_code == 0, result.output
    for arm in ("untreated", "pembrolizumab"):
        gif = iio.imread(out / f"animation_{arm}.gif", index=None)
        assert gif.shape[0] == 5 and gif.shape[-1] in (3, 4)
        assert not np.array_equal(gif[0], gif[-1])
        reader = imageio_v2.get_reader(out / f"animation_{arm}.mp4", format="FFMPEG")
        try:
            assert reader.count_frames() == 5
            assert reader.get_meta_data()["fps"] == pytest.approx(5.0)
            assert reader.get_data(0).shape == (*gif.shape[1:3], 3)
        finally:
            reader.close()


def test_run_without_snapshots_is_refused_with_a_hint(tmp_path):
    (tmp_path / "run.json").write_text(json.dumps({"files": ["run.json"], "runs": []}))
    result = CliRunner().invoke(app, ["animate", str(tmp_path)])
    assert result.exit_code == 2
    assert "--snapshots-every" in result.output


def test_not_a_run_directory_is_refused(tmp_path):
    result = CliRunner().invoke(app, ["animate", str(tmp_path / "nowhere")])
    assert result.exit_code == 2
    assert "not a run directory" in result.output


def test_snapshots_are_the_same_from_worker_processes(run_dir, tmp_path):
    """Workers write the snapshots themselves; the result does not depend on where runs ran."""
    from gcsim.runner import run_scenario
    from gcsim.scenario import Scenario

    manifest = json.loads((run_dir / "run.json").read_text())
    scenario = Scenario.model_validate(manifest["scenario"])
    run_scenario(scenario, tmp_path / "pool", workers=2, snapshots_every_hours=6)
    for arm in ("untreated", "pembrolizumab"):
        here = load_snapshots(run_dir / f"snapshots_{arm}.npz")
        there = load_snapshots(tmp_path / "pool" / f"snapshots_{arm}.npz")
        np.testing.assert_array_equal(here.tissue, there.tissue)
        np.testing.assert_array_equal(here.immune, there.immune)
        np.testing.assert_array_equal(here.time_h, there.time_h)
