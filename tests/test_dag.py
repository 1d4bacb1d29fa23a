"""The topological solver: plan invariants, and scores equal to networkx and to the power method."""

import networkx as nx
import numpy as np
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from oracles import nx_pagerank
from ranker import build_graph, personalized_pagerank
from ranker.dag import dag_pagerank, leveled, plan_levels
from ranker.solve import solve

TIGHT = dict(tol=1e-15, max_iter=100_000)

graphs = st.integers(1, 30).flatmap(lambda n: st.tuples(
    st.just(n),
    st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=90),
    st.sampled_from([0.5, 0.85, 0.95]),
    st.booleans(),  # mostly older: a near-DAG like real citation graphs
))


def _edges(n, edges, dag_like, seed=0):
    e = np.array(edges, dtype=np.int64).reshape(-1, 2)
    if dag_like and len(e):
        back = np.random.default_rng(seed).random(len(e)) < 0.05
        e = e[(e[:, 0] > e[:, 1]) | back]
    return e


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(graphs)
def test_plan_orders_citers_first_and_core_holds_every_cycle(case):
    n, edges, _, dag_like = case
    e = _edges(n, edges, dag_like)
    g = build_graph(e[:, 0], e[:, 1], n)
    plan = plan_levels(g)
    assert sorted(plan.perm.tolist()) == list(range(n))
    where = torch.empty(n, dtype=torch.int64)
    where[plan.perm] = torch.arange(n)
    seg_of = torch.empty(n, dtype=torch.int64)
    core = torch.zeros(n, dtype=torch.bool)
    for k, (kind, s, e_) in enumerate(plan.segments):
        seg_of[plan.perm[s:e_]] = k
        if kind == "core":
            core[plan.perm[s:e_]] = True
    G = nx.DiGraph(list(map(tuple, e)))
    for comp in nx.strongly_connected_components(G):
        if len(comp) > 1:
            assert all(core[c] for c in comp)
    for i, j in e:  # i cites j: i's segment comes first, unless both are in the core or it is a self-citation
        if i != j and not (core[i] and core[j]):
            assert seg_of[i] < seg_of[j]


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(graphs, st.integers(0, 2**31))
def test_dag_matches_networkx_and_power(case, seed):
    n, edges, alpha, dag_like = case
    e = _edges(n, edges, dag_like, seed)
    rng = np.random.default_rng(seed)
    w = rng.uniform(0.1, 3.0, len(e)) if seed % 2 else None
    g = build_graph(e[:, 0], e[:, 1], n, w, duplicates="sum")
    v = torch.zeros((n, 3), dtype=torch.float64)
    v[:, 0] = 1.0 / n
    v[int(rng.integers(0, n)), 1] = 1.0
    v[:, 2] = torch.from_numpy(rng.random(n))
    v[:, 2] /= v[:, 2].sum()
    got, facts = dag_pagerank(g, v, alpha=alpha, **TIGHT)
    assert got.converged.all()
    power = personalized_pagerank(g, v, alpha=alpha, **TIGHT).scores
    torch.testing.assert_close(got.scores, power, atol=1e-12, rtol=0)
    for b in (0, 1):
        want = nx_pagerank(e, n, weights=w, alpha=alpha, personalization=v[:, b].numpy(), multi=True)
        np.testing.assert_allclose(got.scores[:, b].numpy(), want, atol=1e-12)


def test_acyclic_graph_needs_no_iteration_and_is_exact():
    # a DAG: the answer is one triangular solve, exact to rounding even with a loose tol
    rng = np.random.default_rng(4)
    n = 400
    e = rng.integers(0, n, size=(3000, 2))
    e = e[e[:, 0] > e[:, 1]]
    g = build_graph(e[:, 0], e[:, 1], n)
    res, facts = dag_pagerank(g, torch.full((n, 1), 1.0 / n, dtype=torch.float64), tol=1e-3)
    assert facts["core_papers"] == 0 and res.iterations[0] == 0
    np.testing.assert_allclose(res.scores[:, 0].numpy(), nx_pagerank(e, n), atol=1e-13)


def test_self_citations_outside_cycles_are_exact():
    e = np.array([(0, 0), (0, 1), (1, 1), (2, 0), (2, 2)])
    g = build_graph(e[:, 0], e[:, 1], 3)
    res, facts = dag_pagerank(g, torch.full((3, 1), 1 / 3, dtype=torch.float64), tol=1e-3)
    assert facts["core_papers"] == 0
    np.testing.assert_allclose(res.scores[:, 0].numpy(), nx_pagerank(e, 3), atol=1e-14)


def test_leveled_graph_gives_the_same_scores_permuted():
    rng = np.random.default_rng(7)
    n = 200
    e = rng.integers(0, n, size=(1500, 2))
    g = build_graph(e[:, 0], e[:, 1], n)
    lg, plan = leveled(g)
    v = torch.full((n, 1), 1.0 / n, dtype=torch.float64)
    base = solve(g, v, method="power", tol=1e-14).scores
    for method in ("dag", "power"):
        torch.testing.assert_close(solve(lg, v, method=method, tol=1e-14).scores, base[plan.perm], atol=1e-13, rtol=0)


def test_float32_dag_close_to_float64():
    rng = np.random.default_rng(8)
    n = 300
    e = rng.integers(0, n, size=(2000, 2))
    e = e[(e[:, 0] > e[:, 1]) | (rng.random(len(e)) < 0.05)]
    g = build_graph(e[:, 0], e[:, 1], n)
    v = torch.full((n, 1), 1.0 / n, dtype=torch.float64)
    r64 = dag_pagerank(g, v, tol=1e-12)[0].scores
    r32 = dag_pagerank(g, v.float(), tol=1e-6)[0].scores
    assert (r32.double() - r64).abs().sum() < 1e-5


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(graphs, st.integers(0, 3))
def test_structure_only_equals_stored_values_and_stores_none(case, seed):
    """Unweighted CPU graphs solve from the structure alone (no per-citation values kept);
    the answer equals the stored-values solve and networkx, self-citations and cycles included."""
    n, edges, alpha, dag_like = case
    e = _edges(n, edges, dag_like, seed)
    g = build_graph(e[:, 0], e[:, 1], n)
    v = torch.rand(n, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))
    v /= v.sum(0)
    lean, _ = dag_pagerank(g, v, alpha=alpha, **TIGHT)
    assert not leveled(g)[0]._transition, "the structure-only solve built a transition with values"
    stored, _ = dag_pagerank(g, v, alpha=alpha, stored_values=True, **TIGHT)
    torch.testing.assert_close(lean.scores, stored.scores, rtol=0, atol=1e-13)
    want = nx_pagerank(e, n, alpha=alpha, personalization=v[:, 1].numpy())
    np.testing.assert_allclose(lean.scores[:, 1].numpy(), want, rtol=0, atol=1e-12)
