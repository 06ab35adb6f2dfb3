"""Parameter sweeps: sweep files, designs, local or Dask execution, analysis and plots.

``gcsim sweep SWEEP.yaml`` and ``gcsim analyze SWEEP_DIR`` are the command-line faces; see
docs/sweeps.md. Heavy imports (SALib, dask, the model) stay inside the submodules that need them.
"""
