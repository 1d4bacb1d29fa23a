"""The dense reference against networkx: the oracle of every other test."""

import numpy as np
import pytest

from oracles import nx_pagerank
from reference import dense_pagerank, dense_transition

GRAPHS = {
    "cycle": ([(0, 1), (1, 2), (2, 3), (3, 0)], 4),
    "dangling": ([(0, 1), (1, 2), (0, 2)], 4),
    "self_loops": ([(0, 0), (0, 1), (1, 1), (2, 0)], 3),
    "disconnected": ([(0, 1), (1, 0), (2, 3), (4, 2), (4, 3)], 6),
    "single": ([], 1),
}


@pytest.mark.parametrize("name", sorted(GRAPHS))
@pytest.mark.parametrize("alpha", [0.5, 0.85])
def test_dense_matches_networkx(name, alpha):
    edges, n = GRAPHS[name]
    e = np.array(edges, dtype=np.int64).reshape(-1, 2)
    p = dense_transition(e[:, 0], e[:, 1], n)
    x = dense_pagerank(p, np.full((n, 1), 1 / n), alpha)[:, 0]
    np.testing.assert_allclose(x, nx_pagerank(edges, n, alpha=alpha), atol=1e-13, rtol=0)


def test_cycle_is_uniform_by_hand():
    p = dense_transition(np.array([0, 1, 2]), np.array([1, 2, 0]), 3)
    np.testing.assert_allclose(dense_pagerank(p, np.full((3, 1), 1 / 3), 0.85)[:, 0], 1 / 3, atol=1e-15)


def test_dense_personalized_and_weighted_match_networkx():
    edges = [(0, 1), (1, 2), (2, 0), (2, 3), (4, 4), (3, 1)]
    w = [1.0, 2.0, 0.5, 3.0, 1.0, 0.25]
    n = 6
    v = np.array([0.0, 0.0, 0.2, 0.0, 0.0, 0.8])
    e = np.array(edges)
    x = dense_pagerank(dense_transition(e[:, 0], e[:, 1], n, np.array(w)), v[:, None], 0.7)[:, 0]
    np.testing.assert_allclose(x, nx_pagerank(edges, n, weights=w, alpha=0.7, personalization=v), atol=1e-13)
