"""Each year's record ranked in one batched solve, against networkx on that year's induced subgraph."""

import networkx as nx
import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ranker.graph_build import build_graph
from ranker.solvers.paper_rankers import DAYS_PER_YEAR
from ranker.solvers.snapshots import snapshot_columns, snapshot_pagerank, snapshot_teleport, year_end_day


@st.composite
def dated_graphs(draw):
    """Papers with years, citations mostly to older papers, some to newer ones (forward), self-citations,
    duplicates, weights, and papers with no citations at all."""
    n = draw(st.integers(1, 24))
    years = np.array(draw(st.lists(st.integers(1990, 1995), min_size=n, max_size=n)), np.int64)
    m = draw(st.integers(0, 3 * n))
    pairs = draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), min_size=m, max_size=m))
    forward_ok = draw(st.booleans())
    pairs = [(a, b) for a, b in pairs if forward_ok or years[b] <= years[a]]
    weighted = draw(st.booleans())
    weights = draw(st.lists(st.floats(0.25, 4.0), min_size=len(pairs), max_size=len(pairs))) if weighted else None
    duplicates = draw(st.sampled_from(["once", "sum"]))
    return n, years, pairs, weights, duplicates


def build(n, pairs, weights, duplicates):
    e = np.array(pairs, np.int64).reshape(-1, 2)
    w = None if weights is None else torch.tensor(weights, dtype=torch.float64)
    return build_graph(torch.from_numpy(e[:, 0]), torch.from_numpy(e[:, 1]), n, weight=w, duplicates=duplicates)


def nx_record(n, years, pairs, weights, duplicates, cap, personalization=None):
    """networkx PageRank of the record at the end of ``cap``: the induced subgraph of papers <= cap,
    relabelled; zeros elsewhere. Duplicates as the graph holds them (summed, or the first kept)."""
    keep = [i for i in range(n) if years[i] <= cap]
    out = np.zeros(n)
    if not keep:
        return out
    g = nx.DiGraph()
    g.add_nodes_from(keep)
    for k, (a, b) in enumerate(pairs):
        if years[a] > cap or years[b] > cap:
            continue
        w = 1.0 if weights is None else float(weights[k])
        if g.has_edge(a, b):
            if duplicates == "sum":
                g[a][b]["weight"] += w
            continue  # "once": unweighted here (the tests sum weighted repeats)
        g.add_edge(a, b, weight=w)
    pers = None if personalization is None else {i: float(personalization[i]) for i in keep}
    r = nx.pagerank(g, alpha=0.85, personalization=pers, tol=1e-15, max_iter=100_000, weight="weight")
    out[list(r)] = list(r.values())
    return out


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(dated_graphs(), st.sampled_from(["sweep", "power"]))
def test_each_year_equals_networkx_on_its_induced_subgraph(case, method):
    n, years, pairs, weights, duplicates = case
    if weights is not None and duplicates == "once" and len(set(pairs)) < len(pairs):
        duplicates = "sum"  # which repeated row's weight "once" keeps is test_graph's business
    g = build(n, pairs, weights, duplicates)
    caps = torch.tensor(sorted(set(years.tolist())))
    res = snapshot_pagerank(g, torch.from_numpy(years), caps, tol=1e-13, method=method)
    assert bool(res.converged.all())
    for b, cap in enumerate(caps.tolist()):
        expected = nx_record(n, years, pairs, weights, duplicates, cap)
        got = res.scores[:, b].numpy()
        assert np.abs(got - expected).sum() <= 1e-9, (cap, got, expected)
        assert (got[years > cap] == 0).all()


def test_forward_citations_and_early_dangling_papers_by_hand():
    """0 (1990) cites 1 (1991), which cites 0: in 1990 paper 0 cites nothing (dangling), in 1991 a 2-cycle."""
    years = torch.tensor([1990, 1991, 1991])
    g = build(3, [(0, 1), (1, 0), (2, 0), (0, 0)], None, "once")
    cols = snapshot_columns(g, years, torch.tensor([1990, 1991]))
    assert cols.forward.tolist() == [0]
    # paper 0 cites itself and 1: in 1990 only its self-citation is left, so its column is scaled by 2
    assert cols.scale.tolist() == [[2.0, 1.0]]
    for method in ("sweep", "power"):
        res = snapshot_pagerank(g, years, torch.tensor([1990, 1991]), tol=1e-14, method=method)
        assert res.scores[:, 0].tolist() == pytest.approx([1.0, 0.0, 0.0], abs=1e-15)
        expected = nx_record(3, years.numpy(), [(0, 1), (1, 0), (2, 0), (0, 0)], None, "once", 1991)
        assert np.abs(res.scores[:, 1].numpy() - expected).sum() < 1e-12


def test_citerank_columns_age_from_the_end_of_their_year():
    rng = np.random.default_rng(4)
    n = 40
    years = np.sort(rng.integers(2000, 2005, n))
    days = (years - 1970) * DAYS_PER_YEAR + rng.uniform(0, 360, n)
    pairs = [(int(a), int(b)) for a, b in rng.integers(0, n, (120, 2)) if years[b] <= years[a] or rng.random() < .2]
    g = build(n, pairs, None, "once")
    caps = torch.tensor([2001, 2004])
    v = snapshot_teleport(torch.from_numpy(years), caps, days=torch.from_numpy(days), tau=2.0)
    res = snapshot_pagerank(g, torch.from_numpy(years), caps, v, tol=1e-13)
    for b, cap in enumerate(caps.tolist()):
        keep = years <= cap
        w = np.where(keep, np.exp(-(year_end_day(cap) - days) / DAYS_PER_YEAR / 2.0), 0.0)
        expected = nx_record(n, years, pairs, None, "once", cap, personalization=w / w.sum())
        assert np.abs(res.scores[:, b].numpy() - expected).sum() < 1e-9


def random_dated_graph(seed, n=3000, m=30000, forward=0.05):
    rng = np.random.default_rng(seed)
    years = np.sort(rng.integers(1980, 2000, n))
    citing = rng.integers(0, n, m)
    cited = rng.integers(0, n, m)
    back = years[cited] <= years[citing]
    keep = back | (rng.random(m) < forward)
    return build(n, list(zip(citing[keep].tolist(), cited[keep].tolist())), None, "once"), torch.from_numpy(years)


def test_sweep_and_power_agree_and_columns_are_bit_identical_whatever_the_batch():
    g, years = random_dated_graph(1)
    caps = torch.arange(1980, 2000)
    sweep = snapshot_pagerank(g, years, caps, tol=1e-12, method="sweep")
    power = snapshot_pagerank(g, years, caps, tol=1e-12, method="power", batch_invariant=True)
    assert (sweep.scores - power.scores).abs().sum(0).max() < 1e-9
    for part in ([3], [0, 7, 19], list(range(5, 12))):
        s = snapshot_pagerank(g, years, caps[part], tol=1e-12, method="sweep")
        p = snapshot_pagerank(g, years, caps[part], tol=1e-12, method="power", batch_invariant=True)
        assert torch.equal(s.scores, sweep.scores[:, part])
        assert torch.equal(p.scores, power.scores[:, part])


def test_sweep_bits_do_not_depend_on_the_thread_count():
    g, years = random_dated_graph(2)
    caps = torch.arange(1985, 2000, 2)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = snapshot_pagerank(g, years, caps, tol=1e-12, method="sweep")
    finally:
        torch.set_num_threads(threads)
    many = snapshot_pagerank(g, years, caps, tol=1e-12, method="sweep")
    assert torch.equal(one.scores, many.scores)


def test_the_last_year_is_global_pagerank():
    from ranker.solvers.power import pagerank

    g, years = random_dated_graph(3)
    res = snapshot_pagerank(g, years, torch.tensor([int(years.max())]), tol=1e-12)
    glob = pagerank(g, tol=1e-12)
    assert (res.scores[:, 0] - glob.scores[:, 0]).abs().sum() < 1e-9


def test_refusals():
    g, years = random_dated_graph(5, n=50, m=200)
    with pytest.raises(ValueError, match="method must be"):
        snapshot_pagerank(g, years, torch.tensor([1990]), method="magic")
    with pytest.raises(ValueError, match="year must be"):
        snapshot_pagerank(g, years[:10], torch.tensor([1990]))
    v = torch.full((50, 1), 1 / 50, dtype=torch.float64)
    with pytest.raises(ValueError, match="after its year"):
        snapshot_pagerank(g, years, torch.tensor([1985]), v)
    with pytest.raises(ValueError, match="alpha"):
        snapshot_pagerank(g, years, torch.tensor([1990]), alpha=1.0)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(dated_graphs())
def test_compiled_forward_scales_equal_the_torch_reference(case):
    n, years, pairs, weights, duplicates = case
    g = build(n, pairs, weights, duplicates)
    caps = torch.tensor(sorted(set(years.tolist())))
    a = snapshot_columns(g, torch.from_numpy(years), caps)
    b = snapshot_columns(g, torch.from_numpy(years), caps, compiled=False)
    assert torch.equal(a.forward, b.forward) and torch.equal(a.row, b.row)
    torch.testing.assert_close(a.scale, b.scale, rtol=1e-15, atol=0)
