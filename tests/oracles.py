"""Oracles and helpers shared by the tests (imported as ``from oracles import ...``)."""

from __future__ import annotations

from pathlib import Path

import networkx as nx
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
HEPTH = SHARED / "hepth"


def nx_pagerank(edges, n, *, weights=None, alpha=0.85, personalization=None, multi=False):
    """networkx.pagerank run to the tightest tolerance, as an array over nodes 0..n-1.

    ``multi=True`` builds a MultiDiGraph, whose parallel edges add their weights (our
    ``duplicates = "sum"``); a DiGraph keeps one edge per pair (the last row's weight).
    """
    g = nx.MultiDiGraph() if multi else nx.DiGraph()
    g.add_nodes_from(range(n))
    for k, (u, v) in enumerate(edges):
        g.add_edge(int(u), int(v), weight=1.0 if weights is None else float(weights[k]))
    pers = None if personalization is None else {i: float(personalization[i]) for i in range(n)}
    try:
        r = nx.pagerank(g, alpha=alpha, personalization=pers, tol=1e-15, max_iter=100_000, weight="weight")
    except nx.PowerIterationFailedConvergence:
        # rounding can keep the L1 change above n * 1e-15 (seen: 2 nodes, alpha 0.95); 1e-14 still
        # leaves an error below n * 1e-14 / (1 - alpha), under the 1e-12 the tests compare to
        r = nx.pagerank(g, alpha=alpha, personalization=pers, tol=1e-14, max_iter=100_000, weight="weight")
    return np.array([r[i] for i in range(n)])


def write_parquet(path, columns: dict, schema: pa.Schema | None = None) -> str:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table(columns, schema=schema), path)
    return str(path)


def rng(seed=0):
    return np.random.default_rng(seed)


def draw_citations(data, n: int, per_paper: int = 3, weight: tuple[float, float] | None = None):
    """Hypothesis-drawn citations among ``n`` papers (``data``: ``st.data()``): up to ``per_paper * n``
    ``int64`` (citing, cited) pairs (self-citations and repeats included), and positive weights
    in ``weight``'s range when given (else None)."""
    from hypothesis import strategies as st

    m = data.draw(st.integers(0, per_paper * n))
    citing = np.array(data.draw(st.lists(st.integers(0, n - 1), min_size=m, max_size=m)), np.int64)
    cited = np.array(data.draw(st.lists(st.integers(0, n - 1), min_size=m, max_size=m)), np.int64)
    w = None if weight is None else np.array(data.draw(st.lists(st.floats(*weight), min_size=m, max_size=m)))
    return citing, cited, w
