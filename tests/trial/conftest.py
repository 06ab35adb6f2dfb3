"""The tiny trial of tests/trial_helpers.py, written to a temporary directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from trial_helpers import write_trial


@pytest.fixture
def trial_file(tmp_path: Path) -> Path:
    return write_trial(tmp_path)
