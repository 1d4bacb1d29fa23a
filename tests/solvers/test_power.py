"""The batched power-iteration solver against networkx, igraph and the dense reference."""

import igraph
import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from oracles import nx_pagerank
from ranker import build_graph, pagerank, personalized_pagerank, seed_teleport
from reference import dense_pagerank, dense_transition

TIGHT = dict(tol=1e-15, max_iter=20_000)


def solve(edges, n, *, weights=None, alpha=0.85, dtype=torch.float64, **build):
    e = np.array(edges, dtype=np.int64).reshape(-1, 2)
    g = build_graph(e[:, 0], e[:, 1], n, None if weights is None else np.array(weights, float), **build)
    return pagerank(g, alpha=alpha, dtype=dtype, **TIGHT).scores[:, 0].numpy()


def test_cycle_is_uniform():
    np.testing.assert_allclose(solve([(0, 1), (1, 2), (2, 3), (3, 4), (4, 0)], 5), 0.2, atol=1e-15)


def test_star_by_hand():
    # 1 and 2 cite 0; 0 cites nothing (dangling). With teleport uniform and dangling mass
    # uniform, x1 = x2 = (1 - a)/3 + a x0/3 and x0 = x1 + x2 scaled: solve by hand.
    a = 0.85
    x0 = (1 - a) / 3 * (1 + 2 * a) / (1 - a / 3 - 2 * a * a / 3)
    x1 = (1 - a) / 3 + a * x0 / 3
    np.testing.assert_allclose(solve([(1, 0), (2, 0)], 3, alpha=a), [x0, x1, x1], atol=1e-14)


HAND = {
    "dangling": ([(0, 1), (1, 2), (0, 2), (3, 2)], 5),
    "self_loops": ([(0, 0), (0, 1), (1, 1), (2, 0), (2, 2)], 3),
    "duplicates": ([(0, 1), (0, 1), (0, 2), (1, 2), (2, 0), (2, 0)], 3),
    "disconnected": ([(0, 1), (1, 0), (2, 3), (4, 2), (4, 3), (5, 5)], 7),
    "single_node": ([], 1),
    "isolated_only": ([], 4),
    "dag": ([(1, 0), (2, 0), (2, 1), (3, 1), (3, 2), (4, 3), (4, 0)], 5),
}


@pytest.mark.parametrize("name", sorted(HAND))
@pytest.mark.parametrize("alpha", [0.5, 0.85, 0.99])
def test_hand_graphs_match_networkx(name, alpha):
    edges, n = HAND[name]
    np.testing.assert_allclose(solve(edges, n, alpha=alpha), nx_pagerank(edges, n, alpha=alpha), atol=1e-12, rtol=0)


def test_duplicates_summed_match_networkx_multigraph():
    edges, n = HAND["duplicates"]
    w = [1.0, 2.0, 1.0, 1.0, 0.5, 0.5]
    got = solve(edges, n, weights=w, duplicates="sum")
    np.testing.assert_allclose(got, nx_pagerank(edges, n, weights=w, multi=True), atol=1e-12)
    # unweighted duplicates summed count twice
    np.testing.assert_allclose(solve(edges, n, duplicates="sum"), nx_pagerank(edges, n, multi=True), atol=1e-12)


def test_self_citations_dropped_match_networkx_without_loops():
    edges, n = HAND["self_loops"]
    kept = [e for e in edges if e[0] != e[1]]
    np.testing.assert_allclose(solve(edges, n, self_citations="drop"), nx_pagerank(kept, n), atol=1e-12)


def test_weighted_matches_networkx():
    edges = [(0, 1), (0, 2), (1, 2), (2, 0), (3, 0), (3, 1), (3, 2)]
    w = [3.0, 1.0, 0.5, 2.0, 0.0, 1.0, 4.0]
    np.testing.assert_allclose(solve(edges, 5, weights=w), nx_pagerank(edges, 5, weights=w), atol=1e-12)


def test_all_zero_out_weight_is_dangling():
    # paper 0's only citation weighs 0: it behaves as a dangling paper (networkx agrees)
    edges, w = [(0, 1), (1, 2)], [0.0, 1.0]
    np.testing.assert_allclose(solve(edges, 3, weights=w), nx_pagerank(edges, 3, weights=w), atol=1e-12)


graphs = st.integers(1, 25).flatmap(lambda n: st.tuples(
    st.just(n),
    st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=80),
    st.sampled_from([0.3, 0.5, 0.85, 0.95]),
    st.booleans(),
))


@pytest.mark.slow
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(graphs, st.integers(0, 2**32 - 1))
def test_random_graphs_match_networkx(case, seed):
    n, edges, alpha, weighted = case
    w = np.random.default_rng(seed).uniform(0.1, 5.0, len(edges)) if weighted else None
    # networkx DiGraph keeps one edge per pair with the last row's weight; mirror that
    last = {}
    for k, e in enumerate(edges):
        last[e] = k
    uniq = sorted(last, key=last.get)
    wu = None if w is None else [w[last[e]] for e in uniq]
    got = solve(uniq, n, weights=wu, alpha=alpha)
    np.testing.assert_allclose(got, nx_pagerank(uniq, n, weights=wu, alpha=alpha), atol=1e-12, rtol=0)
    # duplicates summed: the multigraph oracle on the raw rows
    got_sum = solve(edges, n, weights=w, alpha=alpha, duplicates="sum")
    np.testing.assert_allclose(got_sum, nx_pagerank(edges, n, weights=w, alpha=alpha, multi=True), atol=1e-12)


@pytest.mark.slow
@settings(max_examples=40, deadline=None)
@given(graphs)
def test_random_graphs_match_igraph(case):
    n, edges, alpha, _ = case
    g = igraph.Graph(n=n, edges=list(dict.fromkeys(edges)), directed=True)
    ref = np.array(g.pagerank(damping=alpha, directed=True, implementation="prpack"))
    np.testing.assert_allclose(solve(edges, n, alpha=alpha), ref, atol=1e-12, rtol=0)


def test_batched_personalized_matches_networkx_per_seed_set():
    rng = np.random.default_rng(3)
    n = 40
    e = rng.integers(0, n, size=(150, 2))
    e = np.unique(e, axis=0)
    g = build_graph(e[:, 0], e[:, 1], n)
    # 5 seed sets (B not a power of two), one with a weighted pair, one with a dangling seed
    sets = [[3], [7, 8], [0, 1, 2, 3], [39], [5, 5, 6]]
    wts = [[1.0], [2.0, 1.0], [1, 1, 1, 1], [1.0], [1.0, 1.0, 2.0]]
    si = np.concatenate([[j] * len(s) for j, s in enumerate(sets)])
    pi = np.concatenate(sets)
    wi = np.concatenate(wts).astype(float)
    v = seed_teleport(n, torch.from_numpy(si), torch.from_numpy(pi), torch.from_numpy(wi), len(sets))
    res = personalized_pagerank(g, v, alpha=0.85, **TIGHT)
    assert res.converged.all()
    for j in range(len(sets)):
        np.testing.assert_allclose(res.scores[:, j].numpy(), nx_pagerank(e, n, personalization=v[:, j].numpy()),
                                   atol=1e-12)


@pytest.mark.parametrize("float32_start", [False, True])
def test_batched_equals_one_column_at_a_time(float32_start):
    """float64 from the start: a column's iterations and scores (to 1e-15) do not depend on its
    batch. From a float32 start the float32 steps round differently in other batch widths (see
    LANES), which can cost a column one more step: close, and exact with batch_invariant."""
    rng = np.random.default_rng(5)
    n = 300
    e = rng.integers(0, n, size=(1500, 2))
    g = build_graph(e[:, 0], e[:, 1], n)
    v = torch.from_numpy(rng.random((n, 7)))
    v /= v.sum(0)
    v[:, 2] = 0
    v[17, 2] = 1.0  # a column that converges at a different speed
    batched = personalized_pagerank(g, v, tol=1e-13, float32_start=float32_start)
    invariant = personalized_pagerank(g, v, tol=1e-13, float32_start=float32_start, batch_invariant=True)
    for j in range(7):
        single = personalized_pagerank(g, v[:, j:j + 1].contiguous(), tol=1e-13, float32_start=float32_start)
        alone = personalized_pagerank(g, v[:, j:j + 1].contiguous(), tol=1e-13, float32_start=float32_start,
                                      batch_invariant=True)
        assert torch.equal(alone.scores[:, 0], invariant.scores[:, j])
        assert alone.iterations[0] == invariant.iterations[j]
        if float32_start:
            assert abs(int(single.iterations[0]) - int(batched.iterations[j])) <= 1
            torch.testing.assert_close(single.scores[:, 0], batched.scores[:, j], atol=1e-14, rtol=0)
        else:
            assert single.iterations[0] == batched.iterations[j]
            torch.testing.assert_close(single.scores[:, 0], batched.scores[:, j], atol=1e-15, rtol=0)


def test_float32_close_to_float64_and_int64_indices_equal():
    rng = np.random.default_rng(1)
    n = 500
    e = rng.integers(0, n, size=(4000, 2))
    s64 = solve(e, n)
    np.testing.assert_allclose(solve(e, n, dtype=torch.float32), s64, atol=1e-6)
    g = build_graph(e[:, 0], e[:, 1], n, index_dtype="int64")
    assert g.col.dtype == torch.int64 and g.crow.dtype == torch.int64
    np.testing.assert_array_equal(pagerank(g, **TIGHT).scores[:, 0].numpy(), s64)


def test_against_dense_reference_on_random_weighted_graph():
    rng = np.random.default_rng(11)
    n = 120
    e = rng.integers(0, n, size=(700, 2))
    w = rng.uniform(0, 3, 700)
    got = solve(e, n, weights=w, duplicates="sum", alpha=0.6)
    ref = dense_pagerank(dense_transition(e[:, 0], e[:, 1], n, w), np.full((n, 1), 1 / n), 0.6)[:, 0]
    np.testing.assert_allclose(got, ref, atol=1e-13)


def test_nonconvergence_is_reported_per_column():
    e = np.array([(0, 1), (1, 2), (2, 0), (3, 0)])
    g = build_graph(e[:, 0], e[:, 1], 4)
    res = pagerank(g, alpha=0.99, tol=1e-14, max_iter=3)
    assert not res.converged[0] and res.iterations[0] == 3 and res.residuals[0] > 1e-14


# --------------------------------------------------------------------------- weights at the float64 limits


EXTREME = [[1e308, 1e308, 1.0], [1e-320, 1e-320, 1e-320], [1.7e308, 1.7e308, 1e-300], [5e-324, 5e-324, 5e-324]]


@pytest.mark.parametrize("weights", EXTREME, ids=["1e308", "1e-320", "max", "denormal-min"])
@pytest.mark.parametrize("method", ["power", "dag"])
def test_extreme_finite_weights_equal_their_ratios(weights, method):
    """a->b, a->c, b->c: a splits its score in the ratio of its weights (1:1 here), b gives all to c."""
    from ranker.solvers.choose import solve as solve_any

    edges = np.array([[0, 1], [0, 2], [1, 2]])
    g = build_graph(edges[:, 0], edges[:, 1], 3, np.array(weights))
    x = solve_any(g, torch.full((3, 1), 1 / 3, dtype=torch.float64), method=method, tol=1e-14).scores[:, 0].numpy()
    ratio = [weights[0] / weights[1], 1.0, 1.0]  # the ratios are exact even where the sums overflow
    want = nx_pagerank(edges, 3, weights=ratio)
    assert np.isfinite(x).all() and abs(x.sum() - 1) < 1e-14
    np.testing.assert_allclose(x, want, atol=1e-12)
    np.testing.assert_allclose(want, [0.198, 0.282, 0.521], atol=1e-3)  # the figures


def test_extreme_weights_summed_as_duplicates():
    edges = np.array([[0, 1], [0, 1], [0, 2], [1, 2]])
    g = build_graph(edges[:, 0], edges[:, 1], 3, np.array([1e308, 1e308, 1e308, 1.0]), duplicates="sum")
    x = pagerank(g, **TIGHT).scores[:, 0].numpy()
    want = nx_pagerank(edges, 3, weights=[1, 1, 1, 1], multi=True)  # a->b twice as heavy as a->c
    np.testing.assert_allclose(x, want, atol=1e-12)


def test_seed_weights_summing_past_the_float64_maximum():
    g = build_graph(np.array([0, 1]), np.array([1, 2]), 3)
    f64 = dict(dtype=torch.float64)
    t = seed_teleport(3, torch.tensor([0, 0]), torch.tensor([0, 2]), torch.tensor([1e308, 1e308], **f64), 1)
    assert t[:, 0].tolist() == [0.5, 0.0, 0.5]
    t = seed_teleport(3, torch.tensor([0, 0]), torch.tensor([0, 2]), torch.tensor([1e-320, 3e-320], **f64), 1)
    np.testing.assert_allclose(t[:, 0].numpy(), [0.25, 0.0, 0.75], rtol=1e-12)
    assert torch.isfinite(personalized_pagerank(g, t).scores).all()


def test_build_graph_rejects_indices_outside_the_graph():
    with pytest.raises(ValueError, match=r"paper indices must lie in 0..2"):
        build_graph(np.array([0, 5]), np.array([1, 2]), 3)
    with pytest.raises(ValueError, match="finite, non-negative"):
        build_graph(np.array([0]), np.array([1]), 3, np.array([np.inf]))


# --------------------------------------------------------------------------- batch invariance


@pytest.mark.parametrize("method", ["power", "dag"])
def test_each_column_is_bit_identical_whatever_its_batch(method):
    """Batches of 1, 3, 5, 7, 8 and 24 seed sets: the same bits for every column (weighted, cyclic graph,
    columns converging at different speeds)."""
    from ranker.solvers.choose import solve as solve_any

    rng = np.random.default_rng(11)
    n, m, sets = 2001, 16000, 24
    e = rng.integers(0, n, size=(m, 2))
    g = build_graph(e[:, 0], e[:, 1], n, rng.random(m) + 0.1)
    t = seed_teleport(n, torch.arange(sets), torch.from_numpy(rng.integers(0, n, sets)), torch.ones(sets), sets)

    def batched(b):
        return torch.cat([solve_any(g, t[:, lo:lo + b].contiguous(), method=method, tol=1e-13,
                                    batch_invariant=True).scores for lo in range(0, sets, b)], 1)

    whole = batched(sets)
    for b in (1, 3, 5, 7, 8):
        assert torch.equal(batched(b), whole), f"batches of {b}"


# --------------------------------------------------------------------------- Aitken jumps, float32 start


def two_communities(n_half=60, bridges=40, seed=3):
    """Two dense random communities joined by ``bridges`` citations each way: the walk's
    second eigenvalue is real, positive and well below 1 (here about 0.8), so the power
    iteration's changes shrink at a steady ratio a jump can use."""
    rng = np.random.default_rng(seed)
    inner = [rng.integers(0, n_half, size=(8 * n_half, 2)) + off for off in (0, n_half)]
    cross = np.stack([rng.integers(0, n_half, bridges), rng.integers(n_half, 2 * n_half, bridges)], 1)
    e = np.concatenate(inner + [cross, cross[:, ::-1]])
    return e[e[:, 0] != e[:, 1]], 2 * n_half


def test_aitken_jumps_cut_iterations_and_keep_the_fixed_point():
    from ranker.solvers.iteration import iterate

    e, n = two_communities()
    g = build_graph(e[:, 0], e[:, 1], n, duplicates="sum")
    v = torch.full((n, 1), 1.0 / n, dtype=torch.float64)
    kw = dict(alpha=0.95, tol=1e-13, max_iter=5000)
    plain = iterate(g.transition(), v, v, g.dangling, extrapolate=False, **kw)
    jumped = iterate(g.transition(), v, v, g.dangling, **kw)
    assert int(jumped.iterations[0]) < 0.5 * int(plain.iterations[0])  # measured: 41 against 110
    want = nx_pagerank(e, n, alpha=0.95, multi=True)
    np.testing.assert_allclose(jumped.scores[:, 0].numpy(), want, atol=1e-12)
    np.testing.assert_allclose(plain.scores[:, 0].numpy(), want, atol=1e-12)


def test_a_jump_lands_on_the_limit_of_a_geometric_tail():
    from ranker.solvers.iteration import Extrapolation

    limit = torch.tensor([[0.5], [0.3], [0.2]], dtype=torch.float64)
    u = torch.tensor([[1.0], [-0.5], [-0.5]], dtype=torch.float64) * 0.05
    xs = [limit + 0.5 ** k * u for k in range(6)]
    ex = Extrapolation(1, alpha=0.85)
    for k in range(1, 5):
        y = xs[k].clone()
        ex.after_step(xs[k - 1], y, (y - xs[k - 1]).abs().sum(0), torch.tensor([True]))
        if k < 4:  # three steady ratios are needed first
            assert torch.equal(y, xs[k])
    torch.testing.assert_close(y, limit, atol=1e-15, rtol=0)  # a few roundings from the limit
    assert ex.jumps == 1


def test_a_jump_that_would_make_a_score_negative_is_refused():
    from ranker.solvers.iteration import Extrapolation

    limit = torch.tensor([[0.999], [0.001]], dtype=torch.float64)
    u = torch.tensor([[-0.1], [0.1]], dtype=torch.float64)  # the second score falls to 0.001 from above
    xs = [limit + 0.5 ** k * u for k in range(6)]
    ex = Extrapolation(1, alpha=0.85)
    for k in range(1, 5):
        y = xs[k].clone()
        y[1, 0] -= 0.002 * (k == 4)  # this one step overshoots, so the jump would pass below zero
        before = y.clone()
        ex.after_step(xs[k - 1], y, (y - xs[k - 1]).abs().sum(0), torch.tensor([True]))
        assert torch.equal(y, before)
    assert ex.jumps == 0 or bool(ex.off[0])


@pytest.mark.parametrize("float32_start", [False, True])
@pytest.mark.parametrize("case", ["weighted", "dangling_and_loops"])
def test_float32_start_keeps_float64_digits(case, float32_start):
    rng = np.random.default_rng(11)
    n = 400
    e = rng.integers(0, n, size=(2400, 2))
    e = e[e[:, 0] < 350]  # papers 350.. cite nothing: dangling
    w = rng.random(len(e)) * 5 + 0.1 if case == "weighted" else None
    g = build_graph(e[:, 0], e[:, 1], n, w, duplicates="sum", self_citations="drop")
    seeds = torch.tensor([3, 200, 399])
    v = seed_teleport(n, torch.arange(3), seeds, torch.ones(3), 3)
    res = personalized_pagerank(g, v, tol=1e-13, float32_start=float32_start)
    assert bool(res.converged.all())
    loop = e[:, 0] == e[:, 1]  # self-citations are dropped; duplicate rows add up (a multigraph)
    for b, s in enumerate(seeds.tolist()):
        want = nx_pagerank(e[~loop], n, personalization=np.eye(n)[s], weights=None if w is None else w[~loop],
                           multi=True)
        np.testing.assert_allclose(res.scores[:, b].numpy(), want, atol=1e-12)


@pytest.mark.parametrize("max_iter", [2, 3, 5, 9, 40])
def test_float32_start_stays_within_max_iter(max_iter):
    e, n = two_communities()
    g = build_graph(e[:, 0], e[:, 1], n)
    res = pagerank(g, alpha=0.99, tol=1e-14, max_iter=max_iter)
    assert int(res.iterations[0]) == max_iter and not bool(res.converged[0])
