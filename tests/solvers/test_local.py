"""Personalized PageRank over the papers a seed set reaches (ranker.solvers.local) against networkx,
the whole-graph solve and a breadth-first search: cycles of every size, dangling papers, weights,
self-citations, repeated citations, seed sets of several papers; the limit and the reuse of scratch."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from oracles import draw_citations, nx_pagerank
from ranker import build_graph
from ranker.solvers.choose import solve
from ranker.solvers.dag import leveled
from ranker.solvers.local import local_pagerank
from ranker.solvers.power import seed_teleport

TOL = 1e-13


def _dense(n, papers, scores):
    x = np.zeros(n)
    x[papers] = scores
    return x


def _whole(graph, seeds, weights):
    v = seed_teleport(graph.n, torch.zeros(len(seeds), dtype=torch.int64), torch.as_tensor(seeds),
                      torch.as_tensor(weights, dtype=torch.float64), 1)
    return solve(graph, v, method="dag", tol=TOL, max_iter=10_000).scores[:, 0].numpy()


def _reachable(n, citing, cited, seeds):
    g = nx.DiGraph(list(zip(citing.tolist(), cited.tolist())))
    g.add_nodes_from(range(n))
    return sorted(set(seeds.tolist()).union(*(nx.descendants(g, int(s)) for s in seeds)))


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 30), data=st.data())
def test_the_local_solve_is_networkx_and_the_whole_solve(n, data):
    weighted = data.draw(st.booleans())
    citing, cited, w = draw_citations(data, n, per_paper=4, weight=(0.1, 5.0) if weighted else None)
    duplicates = data.draw(st.sampled_from(["once", "sum"]))
    graph = build_graph(citing, cited, n, w, duplicates=duplicates)
    k = data.draw(st.integers(1, 3))
    seeds = np.array(data.draw(st.lists(st.integers(0, n - 1), min_size=k, max_size=k)), np.int64)
    sw = np.array(data.draw(st.lists(st.floats(0.5, 2.0), min_size=k, max_size=k)))
    papers, scores, res = local_pagerank(graph, seeds, sw, tol=TOL, max_iter=10_000)
    assert papers.tolist() == _reachable(n, citing, cited, seeds)  # exactly the papers the walk can reach
    local = _dense(n, papers, scores)
    teleport = np.zeros(n)
    np.add.at(teleport, seeds, sw / sw.max())
    if duplicates == "sum" or not weighted:  # networkx's DiGraph keeps one edge per pair (the last weight)
        want = nx_pagerank(zip(citing, cited), n, weights=w, personalization=teleport, multi=duplicates == "sum")
        assert np.abs(local - want).sum() < 1e-10
    assert bool(res.converged[0]) and np.abs(local - _whole(graph, seeds, sw)).sum() < 1e-12
    assert res.scores[:, 0].numpy().tolist() == scores.tolist()


def test_a_hand_made_graph_against_networkx():
    # 0 cites 1; 1 cites 2 and 3; 3 cites 1 (a cycle); 4 cites 0; 5 cites itself and nothing else
    citing, cited = np.array([0, 1, 1, 3, 4, 5]), np.array([1, 2, 3, 1, 0, 5])
    graph = build_graph(citing, cited, 6)
    papers, scores, _ = local_pagerank(graph, np.array([0]), np.array([1.0]), tol=TOL)
    want = nx_pagerank(zip(citing, cited), 6, personalization=np.eye(6)[0])
    assert papers.tolist() == [0, 1, 2, 3]
    assert np.abs(_dense(6, papers, scores) - want).max() < 1e-12
    papers, scores, _ = local_pagerank(graph, np.array([5, 2]), np.array([1.0, 3.0]), tol=TOL)
    want = nx_pagerank(zip(citing, cited), 6, personalization=np.array([0, 0, 3, 0, 0, 1.0]))
    assert papers.tolist() == [2, 5] and np.abs(_dense(6, papers, scores) - want).max() < 1e-12


@pytest.mark.parametrize("weighted", [False, True])
def test_large_components_iterate_and_match_networkx(weighted):
    """Components past the direct solve's 64 papers run Gauss-Seidel: a ring of 300 papers with chords, a
    second ring of 90 cited by it, a tail of dangling papers, and papers nobody reaches."""
    r = np.random.default_rng(3)
    ring = np.arange(300)
    citing = np.concatenate([ring, r.integers(0, 300, 400), 300 + np.arange(90), r.integers(0, 300, 20),
                             r.integers(300, 390, 50), 440 + np.arange(50)])
    cited = np.concatenate([(ring + 1) % 300, r.integers(0, 300, 400), 300 + (np.arange(90) + 1) % 90,
                            r.integers(300, 390, 20), 390 + np.arange(50), r.integers(0, 440, 50)])
    n = 490
    w = r.uniform(0.5, 2.0, citing.size) if weighted else None
    graph = build_graph(citing, cited, n, w, duplicates="sum")
    papers, scores, res = local_pagerank(graph, np.array([17]), np.array([1.0]), tol=TOL, max_iter=10_000)
    assert int(res.iterations[0]) > 1 and papers.tolist() == list(range(440))  # rings and tail, not the last 50
    want = nx_pagerank(zip(citing, cited), n, weights=w, personalization=np.eye(n)[17], multi=True)
    assert np.abs(_dense(n, papers, scores) - want).sum() < 1e-10


def test_the_limit_gives_up_and_the_scratch_is_clean_after():
    citing, cited = np.arange(9), np.arange(1, 10)  # a chain: paper 0 reaches all 10
    graph = build_graph(citing, cited, 12)
    first = local_pagerank(graph, np.array([0]), np.array([1.0]))
    assert first is not None and first[0].size == 10
    assert local_pagerank(graph, np.array([0]), np.array([1.0]), limit=9) is None
    assert local_pagerank(graph, np.array([0]), np.array([1.0]), limit=10) is not None
    again = local_pagerank(graph, np.array([0]), np.array([1.0]))
    assert again[0].tolist() == first[0].tolist() and again[1].tolist() == first[1].tolist()  # bit for bit
    small = local_pagerank(graph, np.array([8]), np.array([1.0]))
    assert small[0].tolist() == [8, 9]


def test_a_leveled_graph_and_float32():
    """The job's graph is already in level order (no permutation); float32 scores are float32 numbers."""
    r = np.random.default_rng(0)
    citing, cited = r.integers(0, 400, 2000), r.integers(0, 400, 2000)
    graph = build_graph(citing, cited, 400)
    g, plan = leveled(graph)
    papers, scores, _ = local_pagerank(graph, np.array([5, 9]), np.array([1.0, 1.0]), tol=TOL)
    position = plan.position.numpy()
    lp, ls, _ = local_pagerank(g, position[[5, 9]], np.array([1.0, 1.0]), tol=TOL)
    assert np.abs(_dense(400, position[papers], scores) - _dense(400, lp, ls)).max() < 1e-15
    p32, s32, _ = local_pagerank(graph, np.array([5, 9]), np.array([1.0, 1.0]), tol=1e-6, dtype=torch.float32)
    assert p32.tolist() == papers.tolist() and s32.tolist() == s32.astype(np.float32).astype(np.float64).tolist()
    assert np.abs(s32 - scores).sum() < 1e-5  # float32 operator values and tol 1e-6


@pytest.mark.parametrize("share", [0.0, 0.25, 1.0])
def test_a_job_gives_the_same_personalized_rows_whichever_columns_are_solved_locally(tmp_path, share):
    """All seed sets over the whole graph (share 0), over what they reach (1.0), or mixed: the same rows
    to 1e-12, and the same ranks."""
    import ranker.job.local_engine as local_engine
    from ranker import parse_config, run_job

    def run(out, s):
        with pytest.MonkeyPatch.context() as m:
            m.setattr(local_engine, "LOCAL_SHARE", s)
            cfg = parse_config({"input": {"synthetic": {"papers": 3000, "seed_sets": 12}},
                                "rank": {"tol": 1e-13, "device": "cpu"}, "personalize": {"top_k": 30},
                                "output": {"dir": out, "report": False}}, base=tmp_path)
            return run_job(cfg, show_progress=False).personalized.to_pandas()

    whole, got = run("whole", 0.0), run(f"local-{share}", share)
    assert (whole[["seed_set", "paper_id", "rank"]].values == got[["seed_set", "paper_id", "rank"]].values).all()
    assert np.abs(whole["score"].to_numpy() - got["score"].to_numpy()).max() < 1e-12


def test_far_reaching_sets_are_solved_a_few_at_a_time(tmp_path):
    """Every set over the whole graph in chunks of 5 columns (as when little memory is free), against
    one chunk of 12: the same rows, bit for bit; the batch holds all 12 sets on the CPU (at least
    LOCAL_BATCH), and run.json counts how each set was solved."""
    import ranker.job.local_engine as local_engine
    from ranker import parse_config, run_job

    def run(out, share, step):
        with pytest.MonkeyPatch.context() as m:
            m.setattr(local_engine, "LOCAL_SHARE", share)
            m.setattr(local_engine, "auto_batch", lambda n, dtype, device, n_sets: max(1, min(n_sets, step)))
            cfg = parse_config({"input": {"synthetic": {"papers": 3000, "seed_sets": 12}},
                                "rank": {"tol": 1e-13, "device": "cpu"}, "personalize": {"top_k": 30},
                                "output": {"dir": out, "report": False}}, base=tmp_path)
            result = run_job(cfg, show_progress=False)
            return result.metadata["personalized"], result.personalized.to_pandas()

    (meta, one), (_, chunks) = run("one", 0.0, 12), run("chunks", 0.0, 5)
    assert one.equals(chunks)
    assert meta["batches"] == 1 and meta["solved"] == {"over_the_papers_reached": 0, "over_the_whole_graph": 12}
    meta, local = run("local", 1.0, 5)
    assert meta["solved"] == {"over_the_papers_reached": 12, "over_the_whole_graph": 0}
    assert (local[["seed_set", "paper_id", "rank"]].values == one[["seed_set", "paper_id", "rank"]].values).all()


def test_a_graph_in_level_order_makes_nothing_per_seed_set(monkeypatch):
    """The job's graph is in level order: after the first set, no plan (an identity permutation of n
    entries each time, which grew RSS 16 MB per call at 2M papers) and no cache is made again."""
    import ranker.solvers.local as local

    r = np.random.default_rng(2)
    g = leveled(build_graph(r.integers(0, 300, 1500), r.integers(0, 300, 1500), 300))[0]
    first = local_pagerank(g, np.array([3]), np.array([1.0]))
    cached = g.__dict__["_local_sweep"][torch.float64]
    calls = []
    monkeypatch.setattr(local, "leveled", lambda *a, **k: calls.append(1))
    for seed in (3, 7, 11):
        assert local_pagerank(g, np.array([seed]), np.array([1.0]))[0].size > 0
    assert calls == [] and g.__dict__["_local_sweep"][torch.float64] is cached
    assert local_pagerank(g, np.array([3]), np.array([1.0]))[1].tolist() == first[1].tolist()
