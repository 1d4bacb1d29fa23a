"""kernels/local_sweep.py: the references against scipy's transpose, and the forward sweep across the
scan's blocks against the whole-graph sweep (the solver's tests hold it to networkx)."""

from __future__ import annotations

import numpy as np
import scipy.sparse
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from oracles import draw_citations
from ranker import build_graph
from ranker.kernels.local_sweep import BLOCK, references
from ranker.solvers.choose import solve
from ranker.solvers.local import local_pagerank


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 40), data=st.data())
def test_references_are_scipys_transpose(n, data):
    citing, cited, w = draw_citations(data, n, weight=(0.5, 3.0))
    graph = build_graph(citing, cited, n, w, duplicates="sum")
    crow, col = graph.crow.numpy(), graph.col.numpy()
    val = graph.transition().values().numpy()
    want = scipy.sparse.csr_matrix((val, col, crow), shape=(n, n)).T.tocsr()
    want.sort_indices()
    for parts in (1, 2, 3):  # threads owning ranges of rows: the same arrays
        rcrow, rcol, rval = np.zeros(n + 1, np.int64), np.empty_like(col), np.empty_like(val)
        references(crow, col, val, rcrow, rcol, rval, parts)
        assert rcrow.tolist() == want.indptr.tolist() and rcol.tolist() == want.indices.tolist()
        assert rval.tolist() == want.data.tolist()
    empty = np.zeros(0, val.dtype)
    rcrow2, rcol2 = np.zeros(n + 1, np.int64), np.empty_like(col)
    references(crow, col, empty, rcrow2, rcol2, empty, 2)  # unweighted: no values read or written
    assert rcrow2.tolist() == rcrow.tolist() and rcol2.tolist() == rcol.tolist()


def test_the_scan_skips_blocks_and_matches_the_whole_sweep():
    """Papers reached far apart in the plan's order (across many blocks of positions, most holding
    nothing that waits) and a graph with papers nobody reaches: the same scores as the whole sweep."""
    n = 6 * BLOCK + 123
    r = np.random.default_rng(1)
    citing = np.concatenate([r.integers(0, n, 3 * n), np.arange(0, n - 1, 997)])
    cited = np.concatenate([r.integers(0, n, 3 * n), np.arange(0, n - 1, 997) + 1])
    older = citing > cited  # cite only older papers: an acyclic graph, with thousands of levels
    graph = build_graph(citing[older], cited[older], n)
    for seed in (n - 1, n // 2, 7):
        papers, scores, _ = local_pagerank(graph, np.array([seed]), np.array([1.0]))
        v = torch.zeros((n, 1), dtype=torch.float64)
        v[seed, 0] = 1.0
        whole = solve(graph, v, method="dag").scores[:, 0].numpy()
        assert papers.tolist() == np.flatnonzero(whole).tolist()
        assert np.abs(whole[papers] - scores).max() < 1e-15
