"""Personalized PageRank on each seed set's ancestors (ranker.solvers.ancestors) against the whole-graph
solve and networkx: cycles, dangling papers, weights, self-citations, seed sets of several papers."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from oracles import draw_citations
from ranker import build_graph
from ranker.solvers.ancestors import ancestor_pagerank, ancestors
from ranker.solvers.choose import solve
from ranker.solvers.power import seed_teleport

SOLVE = {"method": "auto", "alpha": 0.85, "tol": 1e-13, "max_iter": 10_000}


def _whole(graph, seeds, weights):
    v = seed_teleport(graph.n, torch.zeros(len(seeds), dtype=torch.int64), torch.as_tensor(seeds),
                      torch.as_tensor(weights, dtype=torch.float64), 1)
    return solve(graph, v, **SOLVE).scores[:, 0].numpy()


@settings(max_examples=40, deadline=None)
@given(n=st.integers(2, 30), data=st.data())
def test_the_ancestor_solve_is_the_whole_solve(n, data):
    citing, cited, w = draw_citations(data, n, per_paper=4,
                                      weight=(0.1, 5.0) if data.draw(st.booleans()) else None)
    graph = build_graph(citing, cited, n, w)
    k = data.draw(st.integers(1, 3))
    seeds = np.array(data.draw(st.lists(st.integers(0, n - 1), min_size=k, max_size=k)), np.int64)
    sw = np.array(data.draw(st.lists(st.floats(0.5, 2.0), min_size=k, max_size=k)))
    papers, scores, res = ancestor_pagerank(graph, seeds, sw, solve_kw=SOLVE)
    whole = _whole(graph, seeds, sw)
    local = np.zeros(n)
    local[papers] = scores
    assert bool(res.converged[0]) and np.abs(local - whole).sum() < 1e-11
    assert np.all(whole[np.setdiff1d(np.arange(n), papers)] == 0)  # nothing outside the ancestors


def test_ancestors_follow_references_only_and_match_networkx():
    # 0 cites 1, 1 cites 2 and 3, 3 cites 1 (a cycle), 4 cites 0; 5 is cited by nobody and cites nothing
    citing, cited = np.array([0, 1, 1, 3, 4]), np.array([1, 2, 3, 1, 0])
    graph = build_graph(citing, cited, 6)
    assert ancestors(graph, np.array([0])).tolist() == [0, 1, 2, 3]
    assert ancestors(graph, np.array([2, 5])).tolist() == [2, 5]
    g = nx.DiGraph(list(zip(citing.tolist(), cited.tolist())))
    g.add_nodes_from(range(6))
    expected = nx.pagerank(g, alpha=0.85, personalization={0: 1.0}, tol=1e-15, max_iter=10_000)
    papers, scores, _ = ancestor_pagerank(graph, np.array([0]), np.array([1.0]), solve_kw=SOLVE)
    assert papers.tolist() == [0, 1, 2, 3]
    assert max(abs(scores[i] - expected[p]) for i, p in enumerate(papers)) < 1e-10
    assert max(expected[p] for p in (4, 5)) < 1e-12


@pytest.mark.parametrize("share", [0.0, 0.25, 1.0])
def test_a_job_gives_the_same_personalized_rows_whichever_columns_are_solved_locally(tmp_path, monkeypatch, share):
    """All seed sets over the whole graph (share 0), on their ancestors (1.0), or mixed: the same rows
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
