"""The power-iteration step against a dense computation, on odd sizes, with either epilogue (torch's
tensor operations, the reference, or the compiled CPU pass)."""

import numpy as np
import pytest
import torch

from ranker import build_graph
from ranker.kernels import pagerank_step
from ranker.solvers.power import LANES
from reference import dense_transition


@pytest.mark.parametrize("n,nnz,cols", [(1, 0, 1), (5, 0, 3), (7, 1, 1), (33, 100, 5), (64, 300, 17)])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("epilogue", ["torch", "compiled"])
def test_step_matches_dense(n, nnz, cols, dtype, epilogue):
    rng = np.random.default_rng(n * 1000 + nnz)
    e = rng.integers(0, n, size=(nnz, 2))
    g = build_graph(e[:, 0], e[:, 1], n)
    p = dense_transition(*np.unique(e, axis=0).T, n) if nnz else np.zeros((n, n))
    x = rng.random((n, cols))
    x /= x.sum(0)
    v = rng.random((n, cols))
    v /= v.sum(0)
    a = 0.8
    dangling = (p.sum(1) == 0)
    want = a * p.T @ x + (a * x[dangling].sum(0) + 1 - a) * v
    got, res = pagerank_step(g.transition(dtype), torch.from_numpy(x).to(dtype), torch.from_numpy(v).to(dtype),
                             g.dangling, a, epilogue=epilogue)
    tol = 1e-14 if dtype == torch.float64 else 1e-6
    np.testing.assert_allclose(got.double().numpy(), want, atol=tol)
    assert res.dtype == torch.float64
    np.testing.assert_allclose(res.numpy(), np.abs(got.double().numpy() - x).sum(0), atol=tol)


@pytest.mark.parametrize("n,nnz,cols", [(1, 0, 1), (7, 1, 1), (33, 100, 5), (4099, 20_000, 6)])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("epilogue", ["torch", "compiled"])
def test_step_with_rhs_matches_dense(n, nnz, cols, dtype, epilogue):
    """The correction step ``alpha P^T e + alpha d(e) v + r`` (signed ``e`` and ``r``)."""
    rng = np.random.default_rng(n + nnz)
    e = rng.integers(0, n, size=(nnz, 2))
    g = build_graph(e[:, 0], e[:, 1], n)
    p = dense_transition(*np.unique(e, axis=0).T, n) if nnz else np.zeros((n, n))
    x = rng.standard_normal((n, cols))
    r = rng.standard_normal((n, cols)) * 1e-3
    v = rng.random((n, cols))
    v /= v.sum(0)
    a = 0.7
    dangling = (p.sum(1) == 0)
    want = a * p.T @ x + a * x[dangling].sum(0) * v + r
    as_t = lambda m: torch.from_numpy(m).to(dtype)  # noqa: E731
    got, res = pagerank_step(g.transition(dtype), as_t(x), as_t(v), g.dangling, a, epilogue=epilogue, rhs=as_t(r))
    tol = 1e-12 if dtype == torch.float64 else 2e-5
    np.testing.assert_allclose(got.double().numpy(), want, atol=tol)
    np.testing.assert_allclose(res.numpy(), np.abs(got.double().numpy() - as_t(x).double().numpy()).sum(0),
                               rtol=1e-12 if dtype == torch.float64 else 1e-5)


@pytest.mark.parametrize("n", [4097, 70_001])  # several row blocks; the second runs the blocks in parallel
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_compiled_epilogue_columns_are_bit_identical_whatever_the_batch_and_threads(n, dtype):
    """Each column of the compiled epilogue is computed alone: in a batch of 4 or of 16, or on one
    thread, its scores and L1 change are the same bits; and both agree with torch's epilogue."""
    rng = np.random.default_rng(n)
    e = rng.integers(0, n, size=(5 * n, 2))
    g = build_graph(e[:, 0], e[:, 1], n)
    t = g.transition(dtype)
    x = torch.from_numpy(rng.random((n, 16))).to(dtype)
    x /= x.sum(0)
    v = torch.from_numpy(rng.random((n, 16))).to(dtype)
    v /= v.sum(0)
    whole, res = pagerank_step(t, x, v, g.dangling, 0.85, epilogue="compiled")
    for lo in (0, 4, 12):  # torch's product agrees bit for bit across widths that are multiples of LANES
        part, r_part = pagerank_step(t, x[:, lo:lo + LANES].contiguous(), v[:, lo:lo + LANES].contiguous(),
                                     g.dangling, 0.85, epilogue="compiled")
        assert torch.equal(part, whole[:, lo:lo + LANES]) and torch.equal(r_part, res[lo:lo + LANES]), f"columns {lo}"
    threads = torch.get_num_threads()
    from ranker.kernels import sweep

    try:
        sweep.set_threads(1)
        single, r_single = pagerank_step(t, x, v, g.dangling, 0.85, epilogue="compiled")
    finally:
        sweep.set_threads(threads)
    assert torch.equal(single, whole) and torch.equal(r_single, res)
    ref, r_ref = pagerank_step(t, x, v, g.dangling, 0.85, epilogue="torch")
    tol = 1e-15 if dtype == torch.float64 else 1e-6
    torch.testing.assert_close(whole, ref, atol=tol, rtol=0)
    torch.testing.assert_close(res, r_ref, atol=tol * 10, rtol=0)


@pytest.mark.parametrize("m", [0, 1, 4095, 4096, 4097, 50_000])
def test_column_sums_exact_and_independent_of_batch(m):
    from ranker.kernels import column_sums

    x = torch.from_numpy(np.random.default_rng(m).random((m, 5)))
    s = column_sums(x)
    assert s.dtype == torch.float64 and s.shape == (5,)
    np.testing.assert_allclose(s.numpy(), x.numpy().sum(0), rtol=1e-13, atol=0)
    for j in range(5):  # a column alone sums to the same bits
        assert column_sums(x[:, j:j + 1]).item() == s[j].item()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        assert torch.equal(column_sums(x), s)
    finally:
        torch.set_num_threads(threads)


def test_column_sums_in_column_chunks_is_bit_identical(monkeypatch):
    """Wide inputs are summed a few columns at a time (small transposed copy); every column's
    sum keeps the same bits as when it is summed alone or in one piece."""
    import ranker.kernels.step as step

    x = torch.rand(10_000, 7, dtype=torch.float64, generator=torch.Generator().manual_seed(4)) * 1e3
    whole = step.column_sums(x)
    monkeypatch.setattr(step, "_CHUNK", 20_000)  # two columns at a time
    chunked = step.column_sums(x)
    alone = torch.stack([step.column_sums(x[:, j:j + 1])[0] for j in range(7)])
    assert torch.equal(whole, chunked) and torch.equal(chunked, alone)
    torch.testing.assert_close(chunked, x.sum(0), rtol=1e-13, atol=0)
