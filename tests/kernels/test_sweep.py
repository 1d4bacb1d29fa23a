"""The compiled CPU kernels (numba) against their plain references: the plan against Kahn's
algorithm in numpy, the sweep against the torch solver (sparse products, dense inverse, Jacobi)
and networkx; each column's bits independent of its batch and of the thread count."""

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ranker.solvers.components as components
import ranker.solvers.dag as dag
from oracles import nx_pagerank
from ranker import build_graph
from ranker.kernels import sweep as kernels
from ranker.solvers.components import plan_components
from ranker.solvers.dag import dag_pagerank, leveled

graphs = st.integers(1, 40).flatmap(lambda n: st.tuples(
    st.just(n),
    st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=120),
    st.booleans(),  # weighted
    st.integers(0, 2**31),
))


def _near_dag(n, edges, seed):
    """Mostly citations to older papers, a few to newer ones (cycles), duplicates and self-citations kept."""
    e = np.array(edges, dtype=np.int64).reshape(-1, 2)
    back = np.random.default_rng(seed).random(len(e)) < 0.1
    return e[(e[:, 0] >= e[:, 1]) | back]


def _slice_of(perm, segments):
    """Each paper's slice in a plan, and each slice's papers as a set."""
    of = torch.empty(perm.numel(), dtype=torch.int64)
    for k, (_, s, e) in enumerate(segments):
        of[perm[s:e]] = k
    return of


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(graphs)
def test_compiled_plan_equals_scipy_and_kahn_in_numpy(case):
    """Tarjan's one pass against scipy's components and Kahn's levels: the same slices, every paper
    in the same slice, papers on no cycle in the same order; inside a component only the order may
    differ (the search's postorder against index order), and each component stays contiguous."""
    n, edges, _, seed = case
    e = _near_dag(n, edges, seed) if seed % 3 else np.array(edges, dtype=np.int64).reshape(-1, 2)
    g = build_graph(e[:, 0], e[:, 1], n)
    perm_c, seg_c, facts_c = plan_components(g, compiled=True)
    perm_k, seg_k, facts_k = plan_components(g, compiled=False)
    assert seg_c == seg_k and facts_c == facts_k
    assert torch.equal(_slice_of(perm_c, seg_c), _slice_of(perm_k, seg_k))
    count, label = components.strong_components(g)
    for kind, s, e_ in seg_c:
        if kind == "level":
            assert torch.equal(perm_c[s:e_], perm_k[s:e_])
        else:
            comp = label[perm_c[s:e_]]
            starts = torch.nonzero(comp[1:] != comp[:-1]).numel() + 1
            assert starts == torch.unique(comp).numel(), "a component is not contiguous"


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(graphs)
def test_the_plans_numbering_in_numpy_equals_the_compiled_one(case):
    """:func:`ranker.solvers.components.level_order` (a small job's, nothing compiled to load) against
    the kernel's, on the same components, levels and search order: the same permutation and buckets."""
    from ranker.kernels import condensation

    n, edges, _, seed = case
    e = _near_dag(n, edges, seed) if seed % 3 else np.array(edges, dtype=np.int64).reshape(-1, 2)
    g = build_graph(e[:, 0], e[:, 1], n)
    label, level, grouped, start = condensation.condensation(g.crow.numpy(), g.col.numpy())
    cyclic = (np.diff(start) > 1).astype(np.int8)
    n_levels = int(level.max()) + 1
    perm, offsets = components.level_order(label, level, cyclic, grouped, n_levels)
    want_perm, want_offsets = condensation.level_order(label, level, cyclic, grouped, n_levels)
    np.testing.assert_array_equal(perm, want_perm)
    np.testing.assert_array_equal(offsets, want_offsets)
    assert perm.dtype == np.int64


def test_compiled_plan_orders_a_component_citers_first():
    """In a chain of citations closed by one back citation, the search's postorder puts every paper
    after the paper citing it, but for the one citation that closes the cycle."""
    n = 50
    citing = np.arange(1, n)  # paper i + 1 cites paper i
    e = np.concatenate([np.stack([citing, citing - 1], 1), [[0, n - 1]]])  # 0 cites the newest
    g = build_graph(e[:, 0], e[:, 1], n)
    perm, segments, facts = plan_components(g, compiled=True)
    assert segments == [("core", 0, n)] and facts["largest_component"] == n
    pos = torch.empty(n, dtype=torch.int64)
    pos[perm] = torch.arange(n)
    against = sum(int(pos[i] > pos[j]) for i, j in e)  # citer after the cited paper
    assert against == 1


@pytest.mark.slow
@pytest.mark.parametrize("direct_max", [64, 0], ids=["direct", "gauss-seidel"])
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(graphs, st.sampled_from([0.5, 0.85, 0.95]))
def test_compiled_sweep_equals_torch_reference_and_networkx(monkeypatch, direct_max, case, alpha):
    monkeypatch.setattr(kernels, "DIRECT_MAX", direct_max)
    n, edges, weighted, seed = case
    e = _near_dag(n, edges, seed)
    rng = np.random.default_rng(seed)
    w = rng.uniform(0.1, 3.0, len(e)) if weighted else None
    g = build_graph(e[:, 0], e[:, 1], n, w, duplicates="sum")
    v = torch.zeros((n, 5), dtype=torch.float64)
    v[:, 0] = 1.0 / n
    v[int(rng.integers(0, n)), 1] = 1.0  # a single-paper seed: most of the graph holds no mass
    v[:, 2] = torch.from_numpy(rng.random(n))
    v[int(rng.integers(0, n)), 3] = 0.25
    v[int(rng.integers(0, n)), 3] += 0.75
    v[n - 1, 4] = 1.0
    v[:, 2] /= v[:, 2].sum()
    got, facts = dag_pagerank(g, v, alpha=alpha, tol=1e-14, max_iter=20_000, kernel="compiled")
    ref, ref_facts = dag_pagerank(g, v, alpha=alpha, tol=1e-14, max_iter=20_000, kernel="torch")
    assert got.converged.all()
    torch.testing.assert_close(got.scores, ref.scores, atol=1e-12, rtol=0)
    assert facts["core_citations"] == ref_facts["core_citations"]
    for b in (0, 1):
        want = nx_pagerank(e, n, weights=w, alpha=alpha, personalization=v[:, b].numpy(), multi=True)
        np.testing.assert_allclose(got.scores[:, b].numpy(), want, atol=1e-12)


def _cyclic_graph(n=3000, seed=5, weighted=True):
    """Short cycles spread over time, one 400-paper component, weights and self-citations."""
    rng = np.random.default_rng(seed)
    older = rng.integers(0, n, size=(8 * n, 2))
    e = older[older[:, 0] > older[:, 1]]
    k = rng.integers(0, n - 5, n // 20)
    d = k + 1 + rng.integers(0, 4, k.size)
    giant = rng.integers(1000, 1400, size=(2400, 2))
    e = np.concatenate([e, np.stack([k, d], 1), np.stack([d, k], 1), giant, [[9, 9], [1200, 1200]]])
    if not weighted:  # repeated citations count once: summing them would make weights
        return build_graph(e[:, 0], e[:, 1], n)
    return build_graph(e[:, 0], e[:, 1], n, rng.random(len(e)) + 0.5, duplicates="sum")


@pytest.mark.parametrize("weighted", [True, False], ids=["weighted", "unweighted"])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_compiled_columns_are_bit_identical_whatever_the_batch_and_threads(dtype, weighted):
    """Unweighted, a batch of one column takes the sweep's own path (each citation reads its
    citer's ``col_scale * y``, a large component's inputs gathered row by row): the same bits as
    the column inside a wider batch."""
    g = _cyclic_graph(weighted=weighted)
    lg, plan = leveled(g)
    assert plan.facts["largest_component"] > kernels.DIRECT_MAX  # Gauss-Seidel runs, and elimination
    assert plan.facts["components"] > 20
    n = g.n
    rng = np.random.default_rng(2)
    v = torch.zeros((n, 19), dtype=dtype)
    v[torch.from_numpy(rng.integers(0, n, 19)), torch.arange(19)] = 1.0
    v[:, 18] = 1.0 / n
    tol = 1e-12 if dtype == torch.float64 else 1e-6

    def batched(width):
        return torch.cat([dag_pagerank(lg, v[:, lo:lo + width].contiguous(), tol=tol, kernel="compiled")[0].scores
                          for lo in range(0, 19, width)], 1)

    threads = torch.get_num_threads()
    whole = batched(19)
    try:
        torch.set_num_threads(1)
        one_thread = batched(19)
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(one_thread, whole), "one thread"
    for width in (1, 4, 8, 9):
        assert torch.equal(batched(width), whole), f"batches of {width}"


def test_gauss_seidel_in_citers_first_order_needs_fewer_sweeps_than_jacobi(monkeypatch):
    """Inside a large component the papers are numbered citers first: Gauss-Seidel there carries
    most of the flow in one sweep (measured on hep-th: 12 sweeps with Aitken jumps, 17 without, against
    Jacobi's 37)."""
    monkeypatch.setattr(dag, "DENSE_MAX", 0)  # the torch reference iterates every component
    g = _cyclic_graph()
    v = torch.full((g.n, 1), 1.0 / g.n, dtype=torch.float64)
    gs = dag_pagerank(g, v, tol=1e-12, kernel="compiled")[0]
    jacobi = dag_pagerank(g, v, tol=1e-12, kernel="torch")[0]
    torch.testing.assert_close(gs.scores, jacobi.scores, atol=1e-11, rtol=0)
    assert 0 < int(gs.iterations[0]) < int(jacobi.iterations[0])


def test_a_column_into_which_nothing_flows_runs_no_sweep():
    g = _cyclic_graph()
    lg, plan = leveled(g)
    on_cycle = torch.zeros(g.n, dtype=torch.bool)
    for kind, s, e in plan.segments:
        on_cycle[s:e] = kind == "core"
    r = int(torch.nonzero((lg.out_weight == 0) & ~on_cycle)[0])  # cites nothing: its mass stays
    v = torch.zeros((g.n, 2), dtype=torch.float64)
    v[r, 0] = 1.0
    big = max((seg for seg in plan.segments if seg[0] == "core"), key=lambda seg: seg[2] - seg[1])
    v[big[1], 1] = 1.0  # in the 400-paper component: Gauss-Seidel runs
    res, _ = dag_pagerank(lg, v, kernel="compiled")
    assert res.iterations.tolist()[0] == 0 and res.iterations.tolist()[1] > 0
    assert res.scores[r, 0] == 1.0 and res.scores[:, 0].sum() == 1.0


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("index_dtype", ["int32", "int64"])
@pytest.mark.parametrize("n, nnz", [(700, 5000), (90_000, kernels.SERIAL_MAX + 4321)], ids=["serial", "parallel"])
def test_compiled_permute_equals_torch_gathers(weighted, index_dtype, n, nnz):
    rng = np.random.default_rng(11)
    e = rng.integers(0, n, size=(nnz, 2))
    w = rng.random(len(e)) + 0.1 if weighted else None
    g = build_graph(e[:, 0], e[:, 1], n, w, duplicates="sum", index_dtype=index_dtype)
    perm = torch.from_numpy(rng.permutation(n))
    a, b = g.permute(perm, compiled=True), g.permute(perm, compiled=False)
    assert a.col.dtype == b.col.dtype == g.col.dtype
    for x, y in ((a.crow, b.crow), (a.col, b.col), (a.out_weight, b.out_weight)):
        assert torch.equal(x, y)
    assert (a.weight is None and b.weight is None) or torch.equal(a.weight, b.weight)


@pytest.mark.parametrize("weighted", [False, True])
def test_compiled_self_citation_shares_equal_torch_masks(weighted):
    from ranker.solvers.dag import self_shares

    rng = np.random.default_rng(12)
    n = 500
    e = rng.integers(0, n, size=(4000, 2))
    loops = rng.integers(0, n, 300)
    e = np.concatenate([e, np.stack([loops, loops], 1)])  # repeated self-citations too
    w = rng.random(len(e)) + 0.1 if weighted else None
    g = build_graph(e[:, 0], e[:, 1], n, w, duplicates="sum")
    got, want = self_shares(g, compiled=True), self_shares(g, compiled=False)
    assert (want > 0).sum() > 200
    torch.testing.assert_close(got, want, rtol=1e-15, atol=0)
