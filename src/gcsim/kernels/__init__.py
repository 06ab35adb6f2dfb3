"""Numba kernels: pure functions over arrays and scalars, one rule family per module.

Conventions: arrays are indexed ``[x, y]``; the eight Moore neighbours are ``DX, DY``; rates have
been converted to per-step probabilities by the caller; random numbers come from a
``numpy.random.Generator`` passed in, so a run is reproducible from its seed alone.
"""
