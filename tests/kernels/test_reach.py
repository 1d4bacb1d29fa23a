"""kernels/reach.py against scipy: the breadth-first search along references, and the induced subgraph."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from oracles import draw_citations
from ranker import build_graph
from ranker.solvers.ancestors import ancestors, ancestors_reference, reference_lists


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 40), data=st.data())
def test_reach_equals_scipys_search_from_every_seed_set(n, data):
    citing, cited, _ = draw_citations(data, n)
    graph = build_graph(citing, cited, n)
    for _ in range(3):  # the marks are reused across searches (a fresh stamp each)
        seeds = np.array(data.draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=4)), np.int64)
        assert ancestors(graph, seeds).tolist() == ancestors_reference(graph, seeds).tolist()


def test_reference_lists_are_the_transpose_of_the_graph():
    graph = build_graph(np.array([0, 0, 2, 3]), np.array([1, 2, 1, 3]), 4)
    refs = reference_lists(graph)
    assert [refs.indices[refs.indptr[i]:refs.indptr[i + 1]].tolist() for i in range(4)] == [[1, 2], [], [1], [3]]


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 30), data=st.data())
def test_the_induced_rows_are_scipys_submatrix(n, data):
    """ancestor_subgraph (induced_rows) against scipy's P^T[R][:, R], values included (weighted)."""
    from ranker.solvers.ancestors import ancestor_subgraph

    citing, cited, weight = draw_citations(data, n, weight=(0.5, 3.0))
    graph = build_graph(citing, cited, n, weight)
    papers = ancestors(graph, np.array([data.draw(st.integers(0, n - 1))]))
    sub = ancestor_subgraph(graph, papers)
    full = graph.transition().to_dense().numpy()
    assert np.allclose(sub.transition().to_dense().numpy(), full[np.ix_(papers, papers)], rtol=0, atol=1e-15)
    assert sub.out_weight.tolist() == graph.out_weight[papers].tolist()
