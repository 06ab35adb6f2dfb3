"""A tiny virtual patient and trial: a 20 mm primary and a 12 mm liver metastasis carried by
30-site windows, 7 days of screening and 42 days of follow-up (about a second a patient-arm)."""

from __future__ import annotations

from pathlib import Path

BASE = """\
name: tiny_patient
seed: 3
time: {days: 120, record_every_hours: 24}
tumor: {pdl1_cps: 5}
patient:
  bridge: {exchange_hours: 6, window_sites: 30, spinup_days: 2}   # short: the trial machinery
  lesions:
    - {name: primary, site: stomach, diameter_mm: 20}
    - {name: liver1, site: liver, diameter_mm: 12, irradiated: true}
arms:
  untreated: []
  pembrolizumab:
    - type: checkpoint_inhibitor
      drug: pembrolizumab
      dose: {value: 200, unit: mg}
      schedule: {start_day: 0, interval_days: 21, doses: 5}
  rt_pembrolizumab:
    - type: radiotherapy
      dose_per_fraction: {value: 8, unit: Gy}
      schedule: {start_day: 0, interval_days: 2, doses: 3}
    - type: checkpoint_inhibitor
      drug: pembrolizumab
      dose: {value: 200, unit: mg}
      schedule: {start_day: 0, interval_days: 21, doses: 5}
"""

TRIAL = """\
name: tiny
scenario: base.yaml
seed: 5
arms:
  control: {arm: untreated}
  ici: {arm: pembrolizumab}
screening: {days: 7}
scans: {every_days: 21}
follow_up_days: 42
biomarkers: false
cohort:
  patients: PATIENTS
  characteristics:
    cps: {set: tumor.pdl1_cps, distribution: {uniform: [0, 30]}}
    growth:
      set: parameters.tumor.cycle_rate
      scale: multiply
      distribution: {lognormal: {median: 1, sigma: 0.2}}
"""


def write_trial(directory: Path, patients: int = 3, text: str = TRIAL, base: str = BASE) -> Path:
    (directory / "base.yaml").write_text(base)
    path = directory / "trial.yaml"
    path.write_text(text.replace("PATIENTS", str(patients)))
    return path
