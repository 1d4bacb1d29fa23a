"""Author credit: counting rules by hand, mass conservation, aggregation, authors.parquet and shares."""

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from oracles import write_parquet
from ranker import parse_config, run_job
from ranker.solvers.author_rankers import author_scores, counting_weights


@pytest.mark.parametrize("rule,want", [
    ("full", [1, 1, 1]),
    ("fractional", [1 / 3] * 3),
    ("harmonic", [6 / 11, 3 / 11, 2 / 11]),
    ("first_last", [2 / 5, 1 / 5, 2 / 5]),
])
def test_three_author_paper_by_hand(rule, want):
    # positions given out of order and with a gap: ranks are 1, 2, 3 for positions 0, 4, 7
    w = counting_weights(np.array([5, 5, 5]), np.array([7, 0, 4]), rule)
    np.testing.assert_allclose(w, [want[2], want[0], want[1]])


def test_single_author_gets_everything():
    for rule in ("fractional", "harmonic", "first_last"):
        assert counting_weights(np.array([0]), np.array([0]), rule).tolist() == [1.0]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(1, 10), min_size=1, max_size=30), st.sampled_from(["fractional", "harmonic", "first_last"]))
def test_fractional_rules_conserve_mass(sizes, rule):
    paper = np.repeat(np.arange(len(sizes)), sizes)
    position = np.concatenate([np.random.default_rng(k).permutation(s) for k, s in enumerate(sizes)])
    w = counting_weights(paper, position, rule)
    np.testing.assert_allclose(np.bincount(paper, weights=w), 1.0)
    scores = torch.from_numpy(np.random.default_rng(0).random((len(sizes), 1)))
    authors = np.random.default_rng(1).integers(0, 7, paper.size)
    keep = np.unique(paper * 10 + authors, return_index=True)[1]  # one row per (paper, author)
    got = author_scores(paper[keep], authors[keep], counting_weights(paper[keep], position[keep], rule), scores, 7)
    # authors' scores sum to the papers' scores
    assert abs(got.sum().item() - scores.sum().item()) < 1e-12
    # and equal a plain Python aggregation
    ref = np.zeros(7)
    wk = counting_weights(paper[keep], position[keep], rule)
    for p, a, x in zip(paper[keep], authors[keep], wk):
        ref[a] += x * scores[p, 0].item()
    np.testing.assert_allclose(got[:, 0].numpy(), ref, atol=1e-14)


def test_authors_parquet_and_exclusions(tmp_path):
    write_parquet(tmp_path / "c.parquet", {"citing": ["p2", "p3", "p3", "world"], "cited": ["p1", "p1", "p2", "p1"]})
    write_parquet(tmp_path / "a.parquet", {"paper_id": ["p1", "p1", "p2", "p3", "p3", "p3", "ghost"],
                                           "author": ["ann", "bob", "ann", "cat", "bob", "bob", "zed"],
                                           "position": pa.array([0, 1, 0, 0, 1, 1, 0], pa.int16())})
    cfg = parse_config({"input": {"citations": "c.parquet", "authorships": "a.parquet"},
                        "rank": {"tol": 1e-14, "device": "cpu"}, "authors": {"counting": "fractional"},
                        "output": {"dir": "out", "exclude_ids": ["world", "cat"]}}, base=tmp_path)
    res = run_job(cfg, show_progress=False)
    papers = pq.read_table(tmp_path / "out" / "papers.parquet")
    assert "world" not in papers.column("paper_id").to_pylist()
    np.testing.assert_allclose(sum(papers.column("share").to_pylist()), 1.0)
    assert papers.column("rank").to_pylist() == [1, 2, 3]
    authors = pq.read_table(tmp_path / "out" / "authors.parquet")
    assert authors.column_names == ["author", "score", "rank", "share", "papers"]
    rows = {r["author"]: r for r in authors.to_pylist()}
    assert set(rows) == {"ann", "bob"}  # cat excluded; zed's paper is not in the graph
    s = {p: x for p, x in zip(res.ids.output_ids().to_pylist(), res.global_result.scores[:, 0].tolist())}
    assert abs(rows["ann"]["score"] - (s["p1"] / 2 + s["p2"])) < 1e-14
    assert abs(rows["bob"]["score"] - (s["p1"] / 2 + s["p3"] / 2)) < 1e-14  # a repeated (p3, bob) row counts once
    assert rows["bob"]["papers"] == 2 and rows["ann"]["papers"] == 2
    total = rows["ann"]["score"] + rows["bob"]["score"]
    assert abs(rows["ann"]["share"] - rows["ann"]["score"] / total) < 1e-14
    assert res.metadata["authors"]["skipped_rows"] == 1


def test_personalized_shares_skip_excluded_papers(tmp_path):
    write_parquet(tmp_path / "c.parquet", {"citing": ["s", "s", "a"], "cited": ["a", "world", "b"]})
    write_parquet(tmp_path / "seeds.parquet", {"seed_set": ["q"], "paper_id": ["s"]})
    cfg = parse_config({"input": {"citations": "c.parquet"}, "rank": {"tol": 1e-14},
                        "personalize": {"seeds": "seeds.parquet", "top_k": 10},
                        "output": {"dir": "out", "exclude_ids": ["world"]}}, base=tmp_path)
    run_job(cfg, show_progress=False)
    rows = pq.read_table(tmp_path / "out" / "personalized.parquet").to_pylist()
    assert [r["paper_id"] for r in rows] == ["s", "a", "b"]
    assert abs(sum(r["share"] for r in rows) - 1) < 1e-12
    world = 1 - sum(r["score"] for r in rows)  # what the excluded node held
    assert world > 0.01
    for r in rows:
        assert abs(r["share"] - r["score"] / (1 - world)) < 1e-12
