"""The fused Triton step against the plain-torch reference, on odd sizes.

Runs on the CPU under TRITON_INTERPRET=1 (set here when no GPU is present), and on CUDA
when a GPU is. Skips, saying why, when triton is not installed.
"""

import os

import numpy as np
import pytest
import torch

if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")
triton = pytest.importorskip("triton", reason="triton is not installed (pip install triton)")

from ranker import build_graph  # noqa: E402
from ranker.kernels import pagerank_step  # noqa: E402
from ranker.kernels.triton_step import pagerank_step_triton  # noqa: E402

pytestmark = [pytest.mark.gpu]

DEVICE = torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _case(n, nnz, cols, weighted, seed):
    rng = np.random.default_rng(seed)
    e = rng.integers(0, n, size=(nnz, 2))
    w = rng.uniform(0.5, 2.0, nnz) if weighted else None
    g = build_graph(e[:, 0], e[:, 1], n, w, device=DEVICE)
    x = torch.from_numpy(rng.random((n, cols))).to(DEVICE)
    x /= x.sum(0)
    v = torch.from_numpy(rng.random((n, cols))).to(DEVICE)
    v /= v.sum(0)
    return g, x, v


@pytest.mark.parametrize("n,nnz,cols", [(1, 0, 1), (4, 0, 3), (7, 1, 1), (33, 100, 5), (40, 200, 17), (64, 700, 2)])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("structure_only", [False, True])
@pytest.mark.parametrize("index", ["int32", "int64"])
def test_triton_step_matches_reference(n, nnz, cols, dtype, structure_only, index):
    g, x, v = _case(n, nnz, cols, weighted=not structure_only, seed=n * 31 + nnz)
    if index == "int64":
        g = build_graph(*[t.cpu().numpy() for t in (g.col.long(), g.row_index().long())], n,
                        None if g.weight is None else g.weight.cpu().numpy(), index_dtype="int64", device=DEVICE)
    x, v = x.to(dtype), v.to(dtype)
    t = g.transition(dtype)
    want, want_res = pagerank_step(t, x, v, g.dangling, 0.85)
    inv = torch.where(g.out_weight > 0, 1.0 / g.out_weight, torch.zeros_like(g.out_weight)).to(dtype)
    got, res = pagerank_step_triton(g.crow, g.col, None if structure_only else t.values(),
                                    inv if structure_only else None, x, v, g.dangling, 0.85, block_e=8)
    tol = 1e-13 if dtype == torch.float64 else 1e-6
    torch.testing.assert_close(got, want, atol=tol, rtol=0)
    torch.testing.assert_close(res, want_res, atol=tol, rtol=0)


def test_triton_iteration_converges_to_networkx():
    from oracles import nx_pagerank

    rng = np.random.default_rng(3)
    n = 25
    e = np.unique(rng.integers(0, n, size=(80, 2)), axis=0)
    g = build_graph(e[:, 0], e[:, 1], n, device=DEVICE)
    inv = torch.where(g.out_weight > 0, 1.0 / g.out_weight, torch.zeros_like(g.out_weight))
    x = torch.full((n, 1), 1.0 / n, dtype=torch.float64, device=DEVICE)
    v = x.clone()
    for _ in range(500):
        x, res = pagerank_step_triton(g.crow, g.col, None, inv, x, v, g.dangling, 0.5)
        if res.item() < 1e-15:
            break
    np.testing.assert_allclose(x[:, 0].cpu().numpy(), nx_pagerank(e, n, alpha=0.5), atol=1e-12)


def test_solver_with_triton_kernel_equals_torch_kernel():
    from ranker.solvers.choose import solve

    rng = np.random.default_rng(5)
    n = 30
    for weighted in (False, True):
        e = rng.integers(0, n, size=(120, 2))
        g = build_graph(e[:, 0], e[:, 1], n, rng.uniform(0.5, 2, 120) if weighted else None, device=DEVICE)
        v = torch.zeros((n, 3), dtype=torch.float64, device=DEVICE)
        v[:, 0] = 1.0 / n
        v[3, 1] = 1.0
        v[[4, 9], 2] = 0.5
        a = solve(g, v, method="power", alpha=0.5, tol=1e-13, float32_start=False)  # the same iteration
        b = solve(g, v, method="power", alpha=0.5, tol=1e-13, kernel="triton")
        torch.testing.assert_close(b.scores, a.scores, atol=1e-13, rtol=0)
        assert torch.equal(a.iterations, b.iterations)
