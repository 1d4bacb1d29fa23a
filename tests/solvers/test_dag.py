"""The topological solver: plan invariants, and scores equal to networkx and to the power method."""

import networkx as nx
import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ranker.kernels.sweep as sweep_kernels
import ranker.solvers.dag as dag
from oracles import nx_pagerank
from ranker import build_graph, personalized_pagerank
from ranker.solvers.choose import solve
from ranker.solvers.dag import dag_pagerank, leveled, plan_levels

TIGHT = dict(tol=1e-14, max_iter=20_000)  # L1 error <= tol * alpha / (1 - alpha) < 3e-13 at alpha 0.95

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


def _check_plan(plan, n, e):
    """The plan against networkx's strongly connected components: the core is exactly the papers on
    cycles, each component lies in one core slice, and every other citation goes from an earlier slice."""
    assert sorted(plan.perm.tolist()) == list(range(n))
    seg_of = torch.empty(n, dtype=torch.int64)
    core = torch.zeros(n, dtype=torch.bool)
    for k, (kind, s, e_) in enumerate(plan.segments):
        seg_of[plan.perm[s:e_]] = k
        if kind == "core":
            core[plan.perm[s:e_]] = True
    G = nx.DiGraph()
    G.add_nodes_from(range(n))
    G.add_edges_from(map(tuple, e))
    comp_of = {}
    on_cycle = set()
    for c, comp in enumerate(nx.strongly_connected_components(G)):
        comp_of.update({p: c for p in comp})
        if len(comp) > 1:
            on_cycle |= comp
            assert len({int(seg_of[p]) for p in comp}) == 1, "a component split across slices"
    assert set(torch.nonzero(core).flatten().tolist()) == on_cycle
    assert plan.facts["papers_on_cycles"] == len(on_cycle)
    for i, j in e:  # i cites j: i's slice comes first, unless both lie in one component (or i == j)
        if comp_of[int(i)] != comp_of[int(j)]:
            assert seg_of[i] < seg_of[j]


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(graphs)
def test_plan_is_the_condensation_in_topological_order(case):
    n, edges, _, dag_like = case
    e = _edges(n, edges, dag_like)
    g = build_graph(e[:, 0], e[:, 1], n)
    _check_plan(plan_levels(g), n, e)


def test_plan_on_many_small_components_and_one_giant_matches_scipy():
    import scipy.sparse
    from scipy.sparse.csgraph import connected_components

    rng = np.random.default_rng(3)
    n = 3000
    older = rng.integers(0, n, size=(20000, 2))
    e = older[older[:, 0] > older[:, 1]]  # a DAG in time order
    pairs = rng.integers(0, n - 3, 150)
    ahead = pairs + 1 + rng.integers(0, 3, 150)
    small = np.concatenate([np.stack([pairs, ahead], 1), np.stack([ahead, pairs], 1)])  # short cycles over time
    giant = rng.integers(2000, 2600, size=(4000, 2))  # a dense block of 600 papers: one big component
    e = np.concatenate([e, small, giant, [[5, 5], [7, 7]]])
    g = build_graph(e[:, 0], e[:, 1], n)
    plan = plan_levels(g)
    _check_plan(plan, n, e)
    m = scipy.sparse.csr_array((np.ones(len(e)), (e[:, 0], e[:, 1])), shape=(n, n))
    count, label = connected_components(m, directed=True, connection="strong")
    sizes = np.bincount(label)
    assert plan.facts["components"] == int((sizes > 1).sum())
    assert plan.facts["largest_component"] == int(sizes.max())


#: Every way the solver treats a component: the compiled kernel by elimination or Gauss-Seidel,
#: the torch reference by a dense inverse or Jacobi.
PATHS = {"compiled-direct": ("compiled", 64), "compiled-gauss-seidel": ("compiled", 0),
         "torch-direct": ("torch", 1024), "torch-jacobi": ("torch", 0)}


@pytest.mark.slow
@pytest.mark.parametrize("path", list(PATHS))
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(graphs, st.integers(0, 2**31))
def test_dag_matches_networkx_and_power(monkeypatch, path, case, seed):
    kernel, direct_max = PATHS[path]
    monkeypatch.setattr(dag, "DENSE_MAX", direct_max)
    monkeypatch.setattr(sweep_kernels, "DIRECT_MAX", direct_max)
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
    got, facts = dag_pagerank(g, v, alpha=alpha, kernel=kernel, **TIGHT)
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


def test_direct_component_solves_are_bit_identical_whatever_the_batch():
    """Many small components (solved by LU): each column the same bits in batches of 1, 3 and 8."""
    rng = np.random.default_rng(9)
    n = 1500
    older = rng.integers(0, n, size=(9000, 2))
    e = older[older[:, 0] > older[:, 1]]
    k = rng.integers(0, n - 5, 120)
    d = k + 1 + rng.integers(0, 4, 120)
    e = np.concatenate([e, np.stack([k, d], 1), np.stack([d, k], 1)])  # short cycles spread over time
    g = build_graph(e[:, 0], e[:, 1], n, rng.random(len(e)) + 0.5, duplicates="sum")
    lg, plan = leveled(g)
    assert plan.facts["components"] > 20 and plan.facts["largest_component"] <= dag.DENSE_MAX
    v = torch.zeros((n, 8), dtype=torch.float64)
    v[torch.from_numpy(rng.integers(0, n, 8)), torch.arange(8)] = 1.0

    def batched(b):
        return torch.cat([dag_pagerank(lg, v[:, lo:lo + b].contiguous(), tol=1e-13, batch_invariant=True)[0].scores
                          for lo in range(0, 8, b)], 1)

    whole = batched(8)
    for b in (1, 3):
        assert torch.equal(batched(b), whole), f"batches of {b}"


def test_auto_runs_the_power_method_when_one_component_holds_most_papers():
    from ranker.solvers.choose import choose_method

    rng = np.random.default_rng(21)
    n = 400
    older = rng.integers(0, n, size=(3000, 2))
    dag_like = older[older[:, 0] > older[:, 1]]
    g = build_graph(dag_like[:, 0], dag_like[:, 1], n)
    assert choose_method(g) == "dag"
    ring = np.stack([np.arange(300), (np.arange(300) + 1) % 300], 1)  # 300 of 400 papers on one cycle
    e = np.concatenate([dag_like, ring])
    giant = build_graph(e[:, 0], e[:, 1], n)
    assert choose_method(giant) == "power" and choose_method(giant, "dag") == "dag"
    v = torch.full((n, 1), 1.0 / n, dtype=torch.float64)
    auto = solve(giant, v, tol=1e-13)
    assert int(auto.iterations[0]) == int(personalized_pagerank(giant, v, tol=1e-13).iterations[0])
    np.testing.assert_allclose(auto.scores[:, 0].numpy(), nx_pagerank(e, n), atol=1e-12)
