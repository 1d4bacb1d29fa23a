"""Graph construction: CSR structure against scipy, counts of self-citations and duplicates."""

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from ranker import build_graph


def test_csr_matches_scipy_transpose():
    rng = np.random.default_rng(0)
    n = 50
    e = rng.integers(0, n, size=(400, 2))
    w = rng.uniform(0.5, 2, 400)
    g = build_graph(e[:, 0], e[:, 1], n, w, duplicates="sum")
    a = sp.coo_matrix((w, (e[:, 0], e[:, 1])), shape=(n, n)).tocsr()
    a.sum_duplicates()
    out = np.asarray(a.sum(1)).ravel()
    pt = sp.diags(np.divide(1, out, out=np.zeros(n), where=out > 0)) @ a
    ref = pt.T.tocsr()
    ref.sort_indices()
    t = g.transition(torch.float64)
    np.testing.assert_array_equal(t.crow_indices().numpy(), ref.indptr)
    np.testing.assert_array_equal(t.col_indices().numpy(), ref.indices)
    np.testing.assert_allclose(t.values().numpy(), ref.data, rtol=1e-15)
    np.testing.assert_allclose(g.out_weight.numpy(), out)


def test_counts_self_citations_and_duplicates():
    citing = np.array([0, 0, 0, 1, 1, 2, 2])
    cited = np.array([1, 1, 1, 1, 2, 0, 0])
    g = build_graph(citing, cited, 4)
    assert g.stats["self_citations"] == 1
    assert g.stats["duplicate_rows"] == 3
    assert g.nnz == 4 and g.stats["dangling_papers"] == 1  # paper 3 cites nothing
    assert g.weight is None and g.out_weight.tolist() == [1.0, 2.0, 1.0, 0.0]
    d = build_graph(citing, cited, 4, self_citations="drop")
    assert d.nnz == 3 and d.out_weight.tolist() == [1.0, 1.0, 1.0, 0.0]
    s = build_graph(citing, cited, 4, duplicates="sum")
    assert s.weight is not None and sorted(s.weight.tolist()) == [1.0, 1.0, 2.0, 3.0]


def test_duplicates_once_keep_first_rows_weight():
    g = build_graph(np.array([0, 0, 1]), np.array([1, 1, 0]), 2, np.array([5.0, 7.0, 1.0]))
    assert g.out_weight.tolist() == [5.0, 1.0]


def test_index_dtype_choice():
    g = build_graph(np.array([0]), np.array([1]), 2)
    assert g.col.dtype == torch.int32 and g.crow.dtype == torch.int32
    g = build_graph(np.array([0]), np.array([1]), 2, index_dtype="int64")
    assert g.col.dtype == torch.int64 and g.crow.dtype == torch.int64


def test_empty_graph():
    g = build_graph(np.array([], np.int64), np.array([], np.int64), 3)
    assert g.nnz == 0 and g.dangling.tolist() == [0, 1, 2]
    assert g.transition().to_dense().abs().sum() == 0


def test_inputs_are_not_modified():
    e = np.random.default_rng(2).integers(0, 30, size=(100, 2))
    w = np.random.default_rng(3).uniform(0, 1, 100)
    e0, w0 = e.copy(), w.copy()
    for kw in ({}, {"duplicates": "sum"}, {"self_citations": "drop"}):
        build_graph(e[:, 0], e[:, 1], 30, w, **kw)
        build_graph(torch.from_numpy(e[:, 0].copy()), torch.from_numpy(e[:, 1].copy()), 30, **kw)
        build_graph(e[:, 0], e[:, 1], 30, **kw)
    np.testing.assert_array_equal(e, e0)
    np.testing.assert_array_equal(w, w0)


def _assert_same_graph(got, ref):
    assert got.stats == ref.stats
    for a, b in ((got.crow, ref.crow), (got.col, ref.col), (got.out_weight, ref.out_weight)):
        assert a.dtype == b.dtype and torch.equal(a, b)
    assert (got.weight is None) == (ref.weight is None)
    if got.weight is not None:
        assert torch.equal(got.weight, ref.weight)


@pytest.mark.parametrize("kw", [{}, {"self_citations": "drop"}, {"duplicates": "sum"},
                                {"duplicates": "sum", "self_citations": "drop"}])
def test_inplace_pair_build_equals_general_build(kw):
    import pyarrow as pa

    from ranker.graph_build import graph_from_edges
    from ranker.io import EdgeList, IdMap

    rng = np.random.default_rng(9)
    n = 3000
    pairs = rng.integers(0, n, size=(200_000, 2)).astype(np.int32)  # many duplicates and self-citations
    pairs[:500, 1] = pairs[:500, 0]
    ref = build_graph(pairs[:, 0].copy(), pairs[:, 1].copy(), n, **kw)
    edges = EdgeList(citing=pairs[:, 0], cited=pairs[:, 1], weight=None,
                     ids=IdMap(ids=pa.array(np.arange(n)), kind="integer"), pairs=pairs)
    got = graph_from_edges(edges, **kw)
    assert edges.pairs is None  # ownership taken
    _assert_same_graph(got, ref)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 60), st.integers(0, 40), st.integers(0, 400), st.sampled_from(["keep", "drop"]),
       st.sampled_from(["once", "sum"]), st.integers(0, 2**32 - 1))
def test_counted_pair_build_equals_the_sorted_one_and_build_graph(n, extra_cols, e, self_citations, duplicates,
                                                                   seed):
    """ranker.kernels.csr_build (count, place, sort rows, drop repeats) against the buffer sorted
    in place and against build_graph: long rows (numpy's sort in the kernel) and short ones,
    repeats, self-citations, papers cited by nobody, columns past the rows (a row block)."""
    from ranker.graph_build import build_from_pairs

    rng = np.random.default_rng(seed)
    n_cols = n + extra_cols
    pairs = np.stack([rng.integers(0, n_cols, e), rng.integers(0, n, e)], 1).astype(np.int32)
    if e and seed % 3 == 0:
        pairs[: e // 2, 1] = 0  # one long row: past the kernel's insertion-sort length
    kw = {"self_citations": self_citations, "duplicates": duplicates, "index_dtype": "auto", "n_cols": n_cols}
    counted = build_from_pairs(pairs.copy(), n, compiled=True, **kw)
    sorted_ = build_from_pairs(pairs.copy(), n, compiled=False, **kw)
    _assert_same_graph(counted, sorted_)
    general = build_graph(pairs[:, 0].copy(), pairs[:, 1].copy(), n, n_cols=n_cols,
                          self_citations=self_citations, duplicates=duplicates)
    _assert_same_graph(counted, general)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 40), st.integers(0, 300), st.integers(1, 5), st.booleans(), st.integers(0, 2**32 - 1))
def test_counted_rows_and_placement_equal_a_stable_sort_for_any_row_ranges(n, e, parts, drop_loops, seed):
    """ranker.kernels.csr_build's count and placement (rows split into ``parts`` ranges, one per
    thread, with prefetches) against numpy: the row starts are the cumulative counts of the
    cited papers, the self-citations are counted, and each row lists its citing papers in pair
    order (a stable sort by cited).
    More ranges than rows leaves some empty."""
    from ranker.kernels import csr_build

    rng = np.random.default_rng(seed)
    pairs = rng.integers(0, n, (e, 2)).astype(np.int32)
    kept = pairs[pairs[:, 0] != pairs[:, 1]] if drop_loops else pairs
    expected_crow = np.concatenate([[0], np.cumsum(np.bincount(kept[:, 1], minlength=n))]).astype(np.int32)
    expected_col = kept[np.argsort(kept[:, 1], kind="stable"), 0]
    crow = np.zeros(n + 1, np.int32)
    loops = csr_build.row_starts(pairs, crow, drop_loops, parts)
    assert loops == int(np.count_nonzero(pairs[:, 0] == pairs[:, 1]))  # counted whether dropped or not
    np.testing.assert_array_equal(crow, expected_crow)
    col = np.full(int(crow[n]), -1, np.int32)
    csr_build.place_entries(pairs, crow, col, drop_loops, parts)
    np.testing.assert_array_equal(col, expected_col)
