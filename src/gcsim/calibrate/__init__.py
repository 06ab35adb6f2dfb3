"""Calibration: fit parameters to observed readouts through an emulator of the full model.

Pipeline (``gcsim calibrate FILE``; docs/calibration.md): a design of full runs (the sweep
machinery) → a Gaussian-process emulator per readout, accepted at cross-validated Q² ≥ q2_min →
history matching in waves (implausibility ≤ cutoff) → ABC-SMC with pyabc on the emulator, inside
the non-implausible space → confirmation runs at the chosen parameter set.

Modules, one job each: :mod:`.spec` (the file), :mod:`.simulator` (where readouts come from),
:mod:`.emulator`, :mod:`.history`, :mod:`.abc`, :mod:`.run` (stages, storage, resume),
:mod:`.plots`. Heavy imports (scikit-learn, pyabc, the model) stay inside those modules.
"""
