"""Field solvers against dense linear-algebra references on small grids."""

import numpy as np
import pytest
import scipy.sparse
import scipy.sparse.linalg

from gcsim.kernels.fields import fast_padding, solve_oxygen_sor, solve_uniform_decay


def dense_operator(nx, ny, d_over_dx2, diagonal_extra):
    """Matrix of −D∇² + diag(extra) with zero Dirichlet ghosts, built site by site."""
    n = nx * ny
    a = scipy.sparse.lil_matrix((n, n))
    for x in range(nx):
        for y in range(ny):
            i = x * ny + y
            a[i, i] = 4 * d_over_dx2 + diagonal_extra[x, y]
            for u, v in ((x - 1, y), (x + 1, y), (x, y - 1), (x, y + 1)):
                if 0 <= u < nx and 0 <= v < ny:
                    a[i, u * ny + v] = -d_over_dx2
    return a.tocsr()


def edge_count(nx, ny):
    """How many of each site's four neighbours lie beyond the domain edge."""
    count = np.zeros((nx, ny))
    count[0, :] += 1
    count[-1, :] += 1
    count[:, 0] += 1
    count[:, -1] += 1
    return count


def test_oxygen_sor_matches_dense_solve():
    rng = np.random.default_rng(0)
    nx, ny, d = 13, 9, 250.0
    uptake = rng.uniform(0.1, 10.0, (nx, ny))
    supply = np.where(rng.random((nx, ny)) < 0.1, 1000.0, 0.0)
    blood, edge = 50.0, 38.0
    rhs = supply * blood + d * edge * edge_count(nx, ny)
    expected = scipy.sparse.linalg.spsolve(
        dense_operator(nx, ny, d, uptake + supply), rhs.ravel()
    ).reshape(nx, ny)
    c = np.full((nx, ny), 20.0)
    sweeps = solve_oxygen_sor(c, uptake, supply, blood, edge, d, 1.85, 1e-12, 10_000)
    assert sweeps < 10_000
    np.testing.assert_allclose(c, expected, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("omega", [0.7, 1.0, 1.5, 1.95])
def test_oxygen_sor_converges_for_any_relaxation_in_range(omega):
    rng = np.random.default_rng(1)
    uptake = rng.uniform(0.1, 10.0, (8, 8))
    supply = np.zeros((8, 8))
    supply[4, 4] = 1000.0
    a, b = np.full((8, 8), 5.0), np.full((8, 8), 5.0)
    solve_oxygen_sor(a, uptake, supply, 50.0, 38.0, 250.0, omega, 1e-12, 100_000)
    solve_oxygen_sor(b, uptake, supply, 50.0, 38.0, 250.0, 1.85, 1e-12, 100_000)
    np.testing.assert_allclose(a, b, rtol=1e-8)
    assert (a >= 0).all() and (a <= 50.0).all()  # bounded by the source values


def test_uniform_decay_matches_dense_solve():
    rng = np.random.default_rng(2)
    nx, ny, dx, diffusion, decay = 11, 7, 20.0, 1000.0, 0.016
    source = np.where(rng.random((nx, ny)) < 0.3, rng.random((nx, ny)), 0.0)
    expected = scipy.sparse.linalg.spsolve(
        dense_operator(nx, ny, diffusion / dx**2, np.full((nx, ny), decay)), source.ravel()
    ).reshape(nx, ny)
    exact = solve_uniform_decay(source, diffusion, decay, dx, pad=False)
    np.testing.assert_allclose(exact, expected, rtol=1e-9, atol=1e-12)


def test_padding_only_moves_the_drained_edge_outward():
    rng = np.random.default_rng(3)
    nx, ny, dx, diffusion, decay = 40, 30, 20.0, 1000.0, 0.016
    source = np.zeros((nx, ny))
    source[15:25, 10:20] = rng.random((10, 10))
    (x0, x1), (y0, y1) = fast_padding(nx), fast_padding(ny)
    big = np.pad(source, ((x0, x1), (y0, y1)))
    expected = scipy.sparse.linalg.spsolve(
        dense_operator(*big.shape, diffusion / dx**2, np.full(big.shape, decay)), big.ravel()
    ).reshape(big.shape)[x0 : x0 + nx, y0 : y0 + ny]
    np.testing.assert_allclose(
        solve_uniform_decay(source, diffusion, decay, dx), expected, rtol=1e-9, atol=1e-12
    )


def test_uniform_decay_is_nonnegative_and_linear():
    rng = np.random.default_rng(4)
    a, b = rng.random((20, 20)), rng.random((20, 20))
    sa = solve_uniform_decay(a, 6000.0, 0.0039, 20.0)
    sb = solve_uniform_decay(b, 6000.0, 0.0039, 20.0)
    assert (sa >= 0).all()
    np.testing.assert_allclose(
        solve_uniform_decay(a + 2 * b, 6000.0, 0.0039, 20.0), sa + 2 * sb, rtol=1e-9
    )


@pytest.mark.parametrize("shape", [(13, 9), (12, 10)])  # odd ny leaves unused compact slots
def test_reused_solver_scratch_gives_the_same_fields(shape):
    # A model allocates the scratch once and reuses it every step: reuse must not leak state
    # from one solve into the next (here: a different problem solved first in the same scratch).
    from gcsim.kernels.fields import padded_shape, sor_workspace

    rng = np.random.default_rng(4)
    nx, ny = shape
    uptake, supply = rng.uniform(0.1, 10.0, shape), np.where(rng.random(shape) < 0.1, 900.0, 0)
    workspace = sor_workspace(nx, ny)
    solve_oxygen_sor(
        np.full(shape, 3.0), 2 * uptake, supply, 60.0, 10.0, 250.0, 1.85, 1e-9, 50, workspace
    )
    fresh, reused = np.full(shape, 20.0), np.full(shape, 20.0)
    n_fresh = solve_oxygen_sor(fresh, uptake, supply, 50.0, 38.0, 250.0, 1.85, 1e-9, 500)
    n_reused = solve_oxygen_sor(
        reused, uptake, supply, 50.0, 38.0, 250.0, 1.85, 1e-9, 500, workspace
    )
    assert n_fresh == n_reused
    np.testing.assert_array_equal(fresh, reused)
    with pytest.raises(ValueError, match="workspace"):
        solve_oxygen_sor(
            reused, uptake, supply, 50.0, 38.0, 250.0, 1.85, 1e-9, 5, sor_workspace(nx + 1, ny)
        )

    source = rng.random(shape).astype(np.float32)
    work = np.full(padded_shape(nx, ny), np.nan, dtype=np.float32)  # garbage in the scratch
    solve_uniform_decay(2 * source, 6000.0, 0.0039, 20.0, work=work)
    np.testing.assert_array_equal(
        solve_uniform_decay(source, 6000.0, 0.0039, 20.0, work=work),
        solve_uniform_decay(source, 6000.0, 0.0039, 20.0),
    )
    with pytest.raises(ValueError, match="work array"):
        solve_uniform_decay(source.astype(np.float64), 6000.0, 0.0039, 20.0, work=work)
