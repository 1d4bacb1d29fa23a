"""CiteRank, ArticleRank and rescaled PageRank against independent constructions."""

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from oracles import nx_pagerank, write_parquet
from ranker import build_graph, parse_config, run_job
from ranker.errors import GraphError
from ranker.solvers.choose import solve
from ranker.solvers.paper_rankers import articlerank, citerank_teleport, rescale_by_time


def test_citerank_is_pagerank_teleporting_to_recent_papers():
    rng = np.random.default_rng(0)
    n = 60
    e = rng.integers(0, n, size=(300, 2))
    e = np.unique(e[e[:, 0] > e[:, 1]], axis=0)  # newer (higher index) papers cite older ones
    age = (n - np.arange(n)) / 10.0  # years
    g = build_graph(e[:, 0], e[:, 1], n)
    v = citerank_teleport(torch.from_numpy(age), tau=2.0)
    got = solve(g, v, tol=1e-15, max_iter=10_000).scores[:, 0].numpy()
    w = np.exp(-age / 2.0)
    want = nx_pagerank(e, n, personalization=w / w.sum())  # networkx: dangling follows personalization too
    np.testing.assert_allclose(got, want, atol=1e-12)


def test_articlerank_by_hand():
    # paper 0 cites 1; mean out-degree 1/2: x0 = 0.15, x1 = 0.15 + 0.85 * x0 / (1 + 0.5)
    g = build_graph(np.array([0]), np.array([1]), 2)
    x = articlerank(g, alpha=0.85, tol=1e-15).scores[:, 0].numpy()
    np.testing.assert_allclose(x, [0.15, 0.15 + 0.85 * 0.15 / 1.5], atol=1e-15)


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 25).flatmap(lambda n: st.tuples(st.just(n), st.lists(
    st.tuples(st.integers(0, n - 1), st.integers(0, n - 1), st.floats(0.1, 5.0)), max_size=60))), st.booleans())
def test_articlerank_matches_dense_definition(case, weighted):
    n, rows = case
    rows = list({(a, b): w for a, b, w in rows}.items())  # one row per pair
    citing = np.array([k[0] for k, _ in rows], dtype=np.int64)
    cited = np.array([k[1] for k, _ in rows], dtype=np.int64)
    w = np.array([v for _, v in rows]) if weighted else np.ones(len(rows))
    g = build_graph(citing, cited, n, w if weighted else None)
    got = articlerank(g, alpha=0.85, tol=1e-15, max_iter=10_000).scores[:, 0].numpy()
    out_w = np.bincount(citing, weights=w, minlength=n) if len(rows) else np.zeros(n)
    a = np.zeros((n, n))
    for i, j, wij in zip(citing, cited, w):
        a[j, i] += wij / (out_w[i] + out_w.mean())
    want = np.linalg.solve(np.eye(n) - 0.85 * a, np.full(n, 0.15))
    np.testing.assert_allclose(got, want, atol=1e-12)


def test_rescale_matches_brute_force():
    rng = np.random.default_rng(1)
    for n, window in [(50, 10), (50, 7), (9, 20), (200, 33)]:
        p = rng.random(n)  # uniform scores vary by 0.58 of their mean: the 0.1 floor never binds
        dates = rng.integers(0, 30, n).astype(float)  # ties in dates
        got = rescale_by_time(p, dates, window)
        order = np.argsort(dates, kind="stable")
        w = min(window, n)
        want = np.empty(n)
        for r, i in enumerate(order):
            s = min(max(r - w // 2, 0), n - w)
            win = p[order[s:s + w]]
            want[i] = (p[i] - win.mean()) / win.std()
        np.testing.assert_allclose(got, want, atol=1e-9)


def _dated_job(tmp_path, algorithm, extra=None, dates=True):
    extra = extra or {}
    write_parquet(tmp_path / "c.parquet", {"citing": ["d", "d", "c", "b", "e", "e"],
                                           "cited": ["c", "a", "a", "a", "d", "b"]})
    cols = {"paper_id": ["a", "b", "c", "d", "e"], "year": pa.array([1990, 1992, 1995, 2000, 2001], pa.int16())}
    if dates:
        cols["date"] = pa.array([None, None, 9000, 11000, 11400], pa.date32())
    write_parquet(tmp_path / "p.parquet", cols)
    return parse_config({"input": {"citations": "c.parquet", "papers": "p.parquet"},
                         "rank": {"algorithm": algorithm, "tol": 1e-14, "device": "cpu", **extra},
                         "output": {"dir": "out"}}, base=tmp_path)


def test_citerank_job_uses_dates_then_years(tmp_path):
    res = run_job(_dated_job(tmp_path, "citerank", {"tau": 3.0, "reference_date": "2002-01-01"}), show_progress=False)
    t = pq.read_table(tmp_path / "out" / "papers.parquet")
    got = dict(zip(t.column("paper_id").to_pylist(), t.column("score").to_pylist()))
    day = {"a": (1990 - 1970) * 365.25 + 182.625, "b": (1992 - 1970) * 365.25 + 182.625, "c": 9000, "d": 11000,
           "e": 11400}
    ref = 11688  # 2002-01-01
    names = ["a", "b", "c", "d", "e"]
    w = np.array([np.exp(-(ref - day[k]) / 365.25 / 3.0) for k in names])
    idx = {k: i for i, k in enumerate(names)}
    edges = [(idx[a], idx[b]) for a, b in [("d", "c"), ("d", "a"), ("c", "a"), ("b", "a"), ("e", "d"), ("e", "b")]]
    want = nx_pagerank(edges, 5, personalization=w / w.sum())
    for k in names:
        assert abs(got[k] - want[idx[k]]) < 1e-12
    assert json.loads((tmp_path / "out" / "run.json").read_text())["config"]["rank"]["algorithm"] == "citerank"
    assert res.metadata["global"]["converged"]


def test_rescaled_job_outputs_zscores_and_pagerank(tmp_path):
    run_job(_dated_job(tmp_path, "rescaled_pagerank", {"window": 3}), show_progress=False)
    t = pq.read_table(tmp_path / "out" / "papers.parquet")
    assert t.column_names == ["paper_id", "score", "rank", "share", "pagerank", "citations", "year", "date"]
    pr = t.column("pagerank").to_numpy()
    np.testing.assert_allclose(t.column("share").to_numpy(), pr / pr.sum())
    days = {"a": 7487.625, "b": 8218.125, "c": 9000, "d": 11000, "e": 11400}
    ids = t.column("paper_id").to_pylist()
    want = rescale_by_time(pr, np.array([days[i] for i in ids]), 3)
    np.testing.assert_allclose(t.column("score").to_numpy(), want, atol=1e-12)


def test_articlerank_job(tmp_path):
    run_job(_dated_job(tmp_path, "articlerank"), show_progress=False)
    t = pq.read_table(tmp_path / "out" / "papers.parquet")
    assert abs(dict(zip(t.column("paper_id").to_pylist(), t.column("score").to_pylist()))["e"] - 0.15) < 1e-14


def test_missing_dates_are_an_error_naming_the_count(tmp_path):
    write_parquet(tmp_path / "c.parquet", {"citing": ["x", "y"], "cited": ["y", "z"]})
    write_parquet(tmp_path / "p.parquet", {"paper_id": ["x", "y"], "year": [2000, None]})
    cfg = parse_config({"input": {"citations": "c.parquet", "papers": "p.parquet"},
                        "rank": {"algorithm": "citerank"}, "output": {"dir": "o"}}, base=tmp_path)
    with pytest.raises(GraphError, match=r"2 papers have no 'date' or 'year' .* \(first: 'y'\)"):
        run_job(cfg, show_progress=False)


def test_rescaled_on_years_alone_compares_each_paper_with_its_whole_year(tmp_path, caplog):
    """Dates known only as years: the window holds every paper of the year (pandas groupby z-scores,
    population std), so a paper with one citation among uncited papers of its year is not ranked
    first with z = sqrt(window - 1), and the job warns."""
    import logging

    rng = np.random.default_rng(3)
    years = np.repeat(np.arange(2000, 2006), 400)  # each year larger than the window
    n = years.size
    citing, cited = [], []
    for i in range(n):  # papers cite a few older papers, most of them the same famous ones
        older = np.flatnonzero(years < years[i])
        if older.size:
            for j in rng.choice(older[: max(1, older.size // 20)], size=min(3, older.size), replace=False):
                citing.append(f"p{i}")
                cited.append(f"p{j}")
    citing.append(f"p{n - 1}")  # one citation to one paper of the last year: the z = 31.6 trap
    cited.append(f"p{n - 2}")
    write_parquet(tmp_path / "c.parquet", {"citing": citing, "cited": cited})
    write_parquet(tmp_path / "p.parquet", {"paper_id": [f"p{i}" for i in range(n)],
                                           "year": pa.array(years, pa.int16())})
    cfg = parse_config({"input": {"citations": "c.parquet", "papers": "p.parquet"},
                        "rank": {"algorithm": "rescaled_pagerank", "window": 100, "device": "cpu", "tol": 1e-13},
                        "output": {"dir": "out"}}, base=tmp_path)
    log = logging.getLogger("ranker")
    log.addHandler(caplog.handler)
    try:
        with caplog.at_level(logging.WARNING, logger="ranker"):
            res = run_job(cfg, show_progress=False)
    finally:
        log.removeHandler(caplog.handler)
    assert "gives years but no dates" in caplog.text and res.metadata["rescaled"]["times"] == "years"
    df = pq.read_table(tmp_path / "out" / "papers.parquet").to_pandas()
    g = df.groupby("year")["pagerank"]
    mean = g.transform("mean")
    want = (df["pagerank"] - mean) / np.maximum(g.transform(lambda s: s.std(ddof=0)), 0.1 * mean)
    # prefix sums of squares lose ~1e-8 to cancellation where a year's scores are nearly equal
    np.testing.assert_allclose(df["score"].to_numpy(), want.to_numpy(), atol=1e-6)
    trap = df.index[df.paper_id == f"p{n - 2}"][0]  # z = 31.6 with windows cut inside the year and no floor
    assert df.loc[trap, "score"] < 10 and trap >= 10


def test_rescale_whole_ties_is_the_plain_window_when_dates_are_distinct():
    rng = np.random.default_rng(2)
    p, dates = rng.random(300), rng.permutation(300).astype(float)
    np.testing.assert_array_equal(rescale_by_time(p, dates, 31, whole_ties=True), rescale_by_time(p, dates, 31))


def test_rescale_floors_a_window_std_at_a_tenth_of_its_mean():
    p = np.full(50, 1.0)
    p[7] = 1.5  # one paper above 49 equal ones: z would be sqrt(49) = 7 without the floor
    z = rescale_by_time(p, np.arange(50.0), 50)
    mean = p.mean()
    assert abs(z[7] - (1.5 - mean) / (0.1 * mean)) < 1e-12
    assert abs(rescale_by_time(p, np.arange(50.0), 50, min_cv=0)[7] - 7.0) < 1e-9
