"""Quasi-steady reaction–diffusion solvers for the soluble fields.

All fields relax in minutes (oxygen in ~0.1 min, cytokines in ~1 h) while cells act over hours, so
each step solves the steady state of

    D ∇²c − k(x) c + s(x) = 0            (c in its unit, D in µm²/min, k in 1/min, s in unit/min)

on the lattice (5-point Laplacian, spacing dx µm) with a Dirichlet value at the domain edge: the
edge stands for the normal tissue around the section. No explicit time stepping is involved, so
there is no CFL-type stability limit whatever D, dx or dt.

* Oxygen has a spatially varying sink (cells consume it) and source (vessels exchange with blood),
  so it is solved iteratively by red–black successive over-relaxation, warm-started from the
  previous step's solution. The system matrix is symmetric, positive definite and diagonally
  dominant, so SOR converges for any 0 < ω < 2; warm starting makes a step cost a few sweeps.
* Cytokines (VEGF, chemokine, IFN-γ, suppressive cytokine) decay at a uniform rate, so the operator
  is diagonalised by the type-I discrete sine transform and solved exactly in O(N log N).
"""

import functools

import numpy as np
import scipy.fft
from numba import njit


def _sor_shapes(nx: int, ny: int) -> list[tuple[int, int, int]]:
    half = (ny + 1) // 2
    return [(2, nx + 2, half + 2), (2, nx, half), (2, nx, half)]


def sor_workspace(nx: int, ny: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Scratch arrays for ``solve_oxygen_sor`` on an nx × ny lattice, reusable by every solve on
    that lattice (a model allocates them once instead of once per step)."""
    fields, weight, blood = _sor_shapes(nx, ny)
    return np.empty(fields), np.zeros(weight), np.zeros(blood)


def solve_oxygen_sor(
    c: np.ndarray,
    uptake: np.ndarray,
    supply: np.ndarray,
    c_blood: float,
    c_edge: float,
    d_over_dx2: float,
    omega: float,
    tol: float,
    max_iter: int,
    workspace: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
) -> int:
    """Red–black SOR for ``D ∇²c − uptake·c + supply·(c_blood − c) = 0``, in place.

    c : (nx, ny) float64, initial guess (warm start), overwritten with the solution (mmHg).
    uptake, supply : (nx, ny) float64, consumption and vessel exchange coefficients (1/min).
    c_blood, c_edge : blood pO₂ and the Dirichlet edge value (mmHg).
    d_over_dx2 : D / dx² (1/min).  omega : over-relaxation factor in (0, 2).
    workspace : ``sor_workspace(nx, ny)``, or None to allocate one for this solve.
    Stops when the largest update of a sweep pair is below ``tol`` (mmHg) or after ``max_iter``
    sweep pairs. Returns the number of sweep pairs done.
    """
    if workspace is None:
        workspace = sor_workspace(*c.shape)
    elif [a.shape for a in workspace] != _sor_shapes(*c.shape):
        raise ValueError(f"the SOR workspace is not for a {c.shape} lattice")
    return _solve_oxygen_sor(
        c, uptake, supply, c_blood, c_edge, d_over_dx2, omega, tol, max_iter, *workspace
    )


@njit(cache=True)
def _solve_oxygen_sor(
    c, uptake, supply, c_blood, c_edge, d_over_dx2, omega, tol, max_iter, fields, weight, blood
):
    nx, ny = c.shape
    # The sweeps run on a compact red–black copy (see _relax_colour) framed by Dirichlet ghost
    # sites, with each site's Gauss–Seidel coefficients computed once per solve: no edge tests,
    # no division and no stride-2 access in the sweep, 4.7 → 2.0 ns per site update at 200²
    # (docs/decisions/0005-performance.md). The iterates equal those of dividing in every
    # sweep up to round-off (~1e-13 mmHg). ``weight`` and ``blood`` stay 0 where a colour has
    # no site (odd ny), as sor_workspace made them.
    fields[:] = c_edge
    for x in range(nx):
        for y in range(ny):
            colour = (x + y) % 2
            inverse_diagonal = 1.0 / (4.0 * d_over_dx2 + uptake[x, y] + supply[x, y])
            fields[colour, x + 1, y // 2 + 1] = c[x, y]
            weight[colour, x, y // 2] = d_over_dx2 * inverse_diagonal
            blood[colour, x, y // 2] = supply[x, y] * c_blood * inverse_diagonal
    sweeps = max_iter
    for it in range(max_iter):
        largest = _relax_colour(fields[0], fields[1], weight[0], blood[0], ny, 0, omega)
        largest = max(
            largest, _relax_colour(fields[1], fields[0], weight[1], blood[1], ny, 1, omega)
        )
        if largest < tol:
            sweeps = it + 1
            break
    for x in range(nx):
        for y in range(ny):
            c[x, y] = fields[(x + y) % 2, x + 1, y // 2 + 1]
    return sweeps


@njit(cache=True)
def _relax_colour(field, other, weight, blood, ny, colour, omega):
    """One SOR half-sweep over the sites of one colour, in the compact red–black layout.

    Row x + 1 of ``field`` holds the colour's sites y = 2j + p, p = (x + colour) % 2, at column
    j + 1; the rows and columns around them are ghosts at the edge value. A site's four
    neighbours, all of the other colour, are then at column j + 1 of rows x and x + 2 of
    ``other`` and at columns j + p and j + p + 1 of its own row there: unit-stride accesses.
    ``weight`` and ``blood`` hold D/dx²/diagonal and supply·c_blood/diagonal at [x, j].
    Returns the largest change.
    """
    largest = 0.0
    for x in range(weight.shape[0]):
        p = (x + colour) % 2
        up, level, down, row = other[x], other[x + 1], other[x + 2], field[x + 1]
        w, b = weight[x], blood[x]
        for j in range((ny - p + 1) // 2):
            old = row[j + 1]
            total = up[j + 1] + down[j + 1] + level[j + p] + level[j + p + 1]
            new = max(0.0, old + omega * (w[j] * total + b[j] - old))
            largest = max(largest, abs(new - old))
            row[j + 1] = new
    return largest


def laplacian_eigenvalues(n: int, dx: float) -> np.ndarray:
    """Eigenvalues of −d²/dx² on n interior points with zero Dirichlet ghosts (1/µm²)."""
    k = np.arange(1, n + 1)
    return (2.0 - 2.0 * np.cos(np.pi * k / (n + 1))) / dx**2


def fast_padding(n: int) -> tuple[int, int]:
    """Sites to add before and after an axis of ``n`` sites so that the DST-I is fast.

    The DST-I of length m runs an FFT of length 2(m + 1), which is slow when m + 1 has large
    prime factors (200 sites: 3.5 ms; 199 sites: 1.2 ms).
    """
    extra = scipy.fft.next_fast_len(n + 1, real=True) - (n + 1)
    return extra // 2, extra - extra // 2


# Eight entries hold two models' four cytokines; a parameter sweep evicts rather than
# accumulates (an entry is one float32 copy of the padded lattice: 4 MB at 1000²).
@functools.lru_cache(maxsize=8)
def _spectral_factor(
    nx: int, ny: int, diffusion: float, decay: float, dx: float, dtype: np.dtype
) -> np.ndarray:
    """1 / ((D·λ + decay) · 4(nx+1)(ny+1)), read-only, cached per lattice shape and field.

    Dividing by D·λ + decay solves the system in the sine basis; the 4(nx+1)(ny+1) is the
    normalisation of the inverse DST-I, folded in here so that the inverse can be a second
    forward transform (DST-I is its own inverse up to that factor). Caching it removes a cosine
    table, an outer sum and a division from every solve.
    """
    eigenvalues = laplacian_eigenvalues(nx, dx)[:, None] + laplacian_eigenvalues(ny, dx)[None, :]
    factor = 1.0 / ((diffusion * eigenvalues + decay) * (4.0 * (nx + 1) * (ny + 1)))
    factor = factor.astype(dtype)  # float32 sources stay float32
    factor.flags.writeable = False
    return factor


def padded_shape(nx: int, ny: int) -> tuple[int, int]:
    """The shape ``solve_uniform_decay`` transforms an nx × ny lattice in (with ``pad``)."""
    (x0, x1), (y0, y1) = fast_padding(nx), fast_padding(ny)
    return nx + x0 + x1, ny + y0 + y1


def solve_uniform_decay(
    source: np.ndarray,
    diffusion: float,
    decay: float,
    dx: float,
    pad: bool = True,
    out: np.ndarray | None = None,
    work: np.ndarray | None = None,
) -> np.ndarray:
    """Exact steady state of ``D ∇²c − decay·c + source = 0`` with ``c = 0`` beyond the edge.

    source : (nx, ny) secretion rate (unit/min), float32 or float64 (the result has its dtype);
    diffusion D in µm²/min; decay in 1/min (> 0); dx in µm. Returns c (unit), written into
    ``out`` when given (same shape as ``source``). ``work``, if given, is scratch of the padded
    shape (``padded_shape``) and the source's dtype, reused instead of allocated per solve.
    The DST-I diagonalises the 5-point Laplacian with zero Dirichlet edges: the tissue around the
    section drains cytokines to lymph and blood. With ``pad`` the zero-concentration edge lies
    up to a few sites beyond the domain (see ``fast_padding``); cells never live there, and the
    solution is exact for that slightly larger domain.
    """
    nx, ny = source.shape
    (x0, x1), (y0, y1) = fast_padding(nx) if pad else (0, 0), fast_padding(ny) if pad else (0, 0)
    if work is None:
        work = np.pad(source, ((x0, x1), (y0, y1)))  # a fresh array the transforms overwrite
    else:
        if work.shape != (nx + x0 + x1, ny + y0 + y1) or work.dtype != source.dtype:
            raise ValueError(f"the work array is not for a {source.shape} {source.dtype} source")
        work.fill(0)
        work[x0 : x0 + nx, y0 : y0 + ny] = source
    factor = _spectral_factor(*work.shape, diffusion, decay, dx, work.dtype)
    spectrum = scipy.fft.dstn(work, type=1, overwrite_x=True)
    spectrum *= factor
    solution = scipy.fft.dstn(spectrum, type=1, overwrite_x=True)[x0 : x0 + nx, y0 : y0 + ny]
    if out is None:
        out = np.empty_like(solution)
    np.maximum(solution, 0.0, out=out)  # round-off only; the exact solution is >= 0
    return out
