"""The [trajectories] stage and [output] normalize_by, as a job runs them, against independent oracles."""

import json

import networkx as nx
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

import ranker.solvers.snapshots as trajectories_module
from oracles import write_parquet
from ranker import parse_config, run_job
from ranker.errors import ConfigError, GraphError, InputError


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """300 papers over 2000-2009 with a field (some null); citations mostly to older papers, 6% to
    newer ones (so some papers are dangling in early years and cycles form), self-citations, repeats."""
    rng = np.random.default_rng(11)
    d = tmp_path_factory.mktemp("traj")
    n = 300
    years = np.sort(rng.integers(2000, 2010, n))
    ids = [f"P{i:04d}" for i in rng.permutation(n)]
    citing, cited = rng.integers(0, n, 2400), rng.integers(0, n, 2400)
    keep = (years[cited] <= years[citing]) | (rng.random(2400) < 0.06)
    citing, cited = citing[keep], cited[keep]
    fields = rng.choice(np.array(["hep-th", "cs.LG", "math.AG", None], dtype=object), n)
    write_parquet(d / "citations.parquet", {"citing": [ids[i] for i in citing], "cited": [ids[i] for i in cited]})
    write_parquet(d / "papers.parquet", {"paper_id": ids, "year": pa.array(years, pa.int64()),
                                         "field": pa.array(list(fields), pa.string())})
    return {"dir": d, "ids": ids, "years": years, "citing": citing, "cited": cited, "fields": fields}


def job(dataset, out, **sections):
    d = dataset["dir"]
    data = {"input": {"citations": str(d / "citations.parquet"), "papers": str(d / "papers.parquet")},
            "rank": {"tol": 1e-12, "device": "cpu"},
            "output": {"dir": str(d / out), "report": False}}
    for name, value in sections.items():
        data[name] = {**data.get(name, {}), **value}
    return parse_config(data)


def nx_year(dataset, cap):
    """networkx PageRank of the record at the end of ``cap``, by paper id."""
    ids, years = dataset["ids"], dataset["years"]
    g = nx.DiGraph()
    g.add_nodes_from(ids[i] for i in range(len(ids)) if years[i] <= cap)
    g.add_edges_from((ids[a], ids[b]) for a, b in zip(dataset["citing"], dataset["cited"])
                     if years[a] <= cap and years[b] <= cap)
    return nx.pagerank(g, tol=1e-15, max_iter=100_000)


def table(path):
    return pq.read_table(path).replace_schema_metadata(None)


def test_every_year_equals_networkx_and_ranks_within_the_year(dataset):
    res = run_job(job(dataset, "all", trajectories={"years": "all", "top_k": 0}), show_progress=False)
    t = res.trajectories.to_pandas()
    assert list(t.columns) == ["year", "paper_id", "score", "rank"]
    assert sorted(t["year"].unique()) == list(range(2000, 2010))
    for cap, rows in t.groupby("year"):
        expected = nx_year(dataset, cap)
        assert len(rows) == len(expected)
        got = dict(zip(rows["paper_id"], rows["score"]))
        assert sum(abs(got[k] - v) for k, v in expected.items()) < 1e-9
        assert rows["rank"].tolist() == list(range(1, len(rows) + 1))
        assert (np.diff(rows["score"].to_numpy()) <= 0).all()
    meta = json.loads((dataset["dir"] / "all" / "run.json").read_text())
    assert "trajectories" in meta["seconds"] and "trajectories" in meta["peak_memory_bytes"]
    assert set(meta["trajectories"]["iterations"]) == {str(y) for y in range(2000, 2010)}
    assert meta["trajectories"]["papers"]["2009"] == 300
    assert not (dataset["dir"] / "all" / ".checkpoint").exists()


def test_one_year_equals_a_plain_job_on_that_years_files(dataset, tmp_path):
    """2004's record, cut out and written as its own citations and papers, ranked by a global job."""
    ids, years = dataset["ids"], dataset["years"]
    cap = 2004
    keep = (years[dataset["citing"]] <= cap) & (years[dataset["cited"]] <= cap)
    write_parquet(tmp_path / "c.parquet", {"citing": [ids[i] for i in dataset["citing"][keep]],
                                           "cited": [ids[i] for i in dataset["cited"][keep]]})
    alive = np.flatnonzero(years <= cap)
    write_parquet(tmp_path / "p.parquet", {"paper_id": [ids[i] for i in alive], "year": years[alive]})
    plain = run_job(parse_config({"input": {"citations": str(tmp_path / "c.parquet"),
                                            "papers": str(tmp_path / "p.parquet")},
                                  "rank": {"tol": 1e-12, "device": "cpu"},
                                  "output": {"dir": str(tmp_path / "plain"), "report": False}}), show_progress=False)
    traj = run_job(job(dataset, "one", trajectories={"years": [cap], "top_k": 0}), show_progress=False)
    a = plain.papers.to_pandas().set_index("paper_id")["score"]
    b = traj.trajectories.to_pandas().set_index("paper_id")["score"]
    assert set(a.index) == set(b.index)
    assert (a - b[a.index]).abs().sum() < 1e-9


def test_power_method_equals_the_sweep(dataset):
    sweep = run_job(job(dataset, "sweep", trajectories={"top_k": 20}), show_progress=False).trajectories
    power = run_job(job(dataset, "power", trajectories={"top_k": 20}, rank={"method": "power"}),
                    show_progress=False).trajectories
    assert sweep.column("paper_id").equals(power.column("paper_id"))
    assert np.abs(sweep.column("score").to_numpy() - power.column("score").to_numpy()).max() < 1e-10


def test_a_resumed_run_takes_finished_batches_and_equals_an_uninterrupted_one(dataset, monkeypatch, caplog):
    cfg = job(dataset, "resume", trajectories={"top_k": 15, "batch_size": 3})
    reference = table(run_job(job(dataset, "ref", trajectories={"top_k": 15, "batch_size": 3}),
                              show_progress=False).outputs["trajectories"])
    real, calls = trajectories_module.snapshot_pagerank, []

    def dies(*a, **k):
        calls.append(1)
        if len(calls) == 3:  # batches 0 and 1 finish, batch 2 is interrupted
            raise KeyboardInterrupt
        return real(*a, **k)

    monkeypatch.setattr(trajectories_module, "snapshot_pagerank", dies)
    with pytest.raises(KeyboardInterrupt):
        run_job(cfg, show_progress=False)
    monkeypatch.setattr(trajectories_module, "snapshot_pagerank", real)
    assert not (dataset["dir"] / "resume" / "trajectories.parquet").exists()
    again = run_job(cfg, show_progress=False)
    assert again.metadata["trajectories"]["resumed_batches"] == 2
    assert table(again.outputs["trajectories"]).equals(reference)


def test_percentiles_within_year_and_field_equal_pandas(dataset):
    res = run_job(job(dataset, "pct", trajectories={"top_k": 0, "years": [2003, 2009]},
                      output={"normalize_by": ["year", "field"]}), show_progress=False)
    papers = res.papers.to_pandas()
    assert {"percentile", "citations_percentile", "year"} <= set(papers.columns)
    field = dict(zip(dataset["ids"], dataset["fields"]))
    papers["field"] = papers["paper_id"].map(field)
    for col, of in (("percentile", "score"), ("citations_percentile", "citations")):
        expected = papers.groupby(["year", "field"])[of].rank(pct=True, method="average")
        np.testing.assert_array_equal(papers[col].isna(), expected.isna())
        np.testing.assert_allclose(papers[col].dropna(), expected.dropna(), rtol=0, atol=1e-15)
    assert papers.loc[papers["field"].isna(), "percentile"].isna().all()
    t = res.trajectories.to_pandas()
    year_of = dict(zip(dataset["ids"], dataset["years"]))
    t["pub_year"], t["field"] = t["paper_id"].map(year_of), t["paper_id"].map(field)
    for _, rows in t.groupby("year"):  # within that year's record
        expected = rows.groupby(["pub_year", "field"])["score"].rank(pct=True, method="average")
        np.testing.assert_allclose(rows["percentile"].dropna(), expected.dropna(), rtol=0, atol=1e-15)


def test_refusals(dataset, tmp_path):
    d = dataset["dir"]
    with pytest.raises(ConfigError, match=r"\[trajectories\] needs \[input\] papers"):
        parse_config({"input": {"citations": str(d / "citations.parquet")}, "trajectories": {}})
    with pytest.raises(ConfigError, match="articlerank"):
        job(dataset, "x", trajectories={}, rank={"algorithm": "articlerank"})
    with pytest.raises(ConfigError, match='years must be "all" or'):
        job(dataset, "x", trajectories={"years": "some"})
    with pytest.raises(ConfigError, match="top_k must be >= 0"):
        job(dataset, "x", trajectories={"top_k": -1})
    with pytest.raises(ConfigError, match="1999, a year no paper has"):
        run_job(job(dataset, "x", trajectories={"years": [1999, 2005]}), show_progress=False)
    with pytest.raises(InputError, match="no column 'topic'"):
        run_job(job(dataset, "x", output={"normalize_by": ["year", "topic"]}), show_progress=False)
    # a paper of the graph the papers file does not date
    ids = dataset["ids"]
    write_parquet(tmp_path / "p.parquet", {"paper_id": ids[:-1], "year": dataset["years"][:-1]})
    cfg = parse_config({"input": {"citations": str(d / "citations.parquet"), "papers": str(tmp_path / "p.parquet")},
                        "trajectories": {}, "output": {"dir": str(tmp_path / "o")}})
    with pytest.raises(GraphError, match=r"1 papers of the graph have no 'year' or 'date'.*first: 'P"):
        run_job(cfg, show_progress=False)
    assert not (tmp_path / "o" / "papers.parquet").exists()


def test_citerank_columns_equal_networkx_with_ages_from_the_end_of_the_year(dataset, tmp_path):
    d = dataset["dir"]
    rng = np.random.default_rng(2)
    day_of_year = rng.integers(0, 365, len(dataset["ids"]))
    days = ((dataset["years"] - 1970) * 365.25).astype(np.int64) + day_of_year  # days since 1970, in its year
    dates = pa.array(days.astype(np.int32), pa.int32()).cast(pa.date32())
    assert (pc_year(dates) == dataset["years"]).all()
    write_parquet(tmp_path / "p.parquet", {"paper_id": dataset["ids"], "date": dates})
    cfg = parse_config({"input": {"citations": str(d / "citations.parquet"), "papers": str(tmp_path / "p.parquet")},
                        "rank": {"algorithm": "citerank", "tau": 2.0, "tol": 1e-12, "device": "cpu"},
                        "trajectories": {"top_k": 0, "years": [2005]},
                        "output": {"dir": str(tmp_path / "o"), "report": False}})
    t = run_job(cfg, show_progress=False).trajectories.to_pandas()
    ids, years = dataset["ids"], dataset["years"]
    end = (pd.Timestamp("2006-01-01") - pd.Timestamp("1970-01-01")).days
    g = nx.DiGraph()
    alive = [i for i in range(len(ids)) if years[i] <= 2005]
    g.add_nodes_from(ids[i] for i in alive)
    g.add_edges_from((ids[a], ids[b]) for a, b in zip(dataset["citing"], dataset["cited"])
                     if years[a] <= 2005 and years[b] <= 2005)
    pers = {ids[i]: float(np.exp(-(end - days[i]) / 365.25 / 2.0)) for i in alive}
    expected = nx.pagerank(g, personalization=pers, tol=1e-15, max_iter=100_000)
    got = dict(zip(t["paper_id"], t["score"]))
    assert set(got) == set(expected)
    assert sum(abs(got[k] - v) for k, v in expected.items()) < 1e-9


def pc_year(dates):
    import pyarrow.compute as pc

    return pc.year(dates).to_numpy()


def test_personalized_percentiles_within_each_seed_sets_list(dataset, tmp_path):
    ids = dataset["ids"]
    write_parquet(tmp_path / "s.parquet", {"seed_set": ["a", "a", "b"], "paper_id": [ids[5], ids[9], ids[200]]})
    res = run_job(job(dataset, "ppr", personalize={"seeds": str(tmp_path / "s.parquet"), "top_k": 40},
                      output={"normalize_by": ["year", "field"]}), show_progress=False)
    t = res.personalized.to_pandas()
    field = dict(zip(ids, dataset["fields"]))
    year = dict(zip(ids, dataset["years"]))
    t["year"], t["field"] = t["paper_id"].map(year), t["paper_id"].map(field)
    expected = t.groupby(["seed_set", "year", "field"])["score"].rank(pct=True, method="average")
    np.testing.assert_array_equal(t["percentile"].isna(), expected.isna())
    np.testing.assert_allclose(t["percentile"].dropna(), expected.dropna(), rtol=0, atol=1e-15)
    assert t["percentile"].notna().any() and t["percentile"].isna().any()


def test_out_of_memory_splits_the_years_in_halves_and_changes_no_number(dataset, monkeypatch):
    reference = run_job(job(dataset, "whole", trajectories={"top_k": 10}), show_progress=False).trajectories
    real, calls = trajectories_module.snapshot_pagerank, []

    def tight(graph, year, caps, *a, **k):
        calls.append(int(caps.numel()))
        if caps.numel() > 3:
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
        return real(graph, year, caps, *a, **k)

    monkeypatch.setattr(trajectories_module, "snapshot_pagerank", tight)
    got = run_job(job(dataset, "split", trajectories={"top_k": 10}), show_progress=False).trajectories
    assert calls[0] == 10 and max(calls[1:]) <= 5 and got.equals(reference)


def test_years_are_bit_identical_whatever_the_batching_and_excluded_papers_are_left_out(dataset):
    one = run_job(job(dataset, "b1", trajectories={"top_k": 0, "batch_size": 1}), show_progress=False).trajectories
    all_ = run_job(job(dataset, "b0", trajectories={"top_k": 0}), show_progress=False).trajectories
    assert one.equals(all_)  # bit for bit
    top = all_.to_pandas()
    gone = top[top["year"] == 2009].iloc[0]["paper_id"]  # the top paper of the last year
    t = run_job(job(dataset, "ex", trajectories={"top_k": 5}, output={"exclude_ids": [gone]}),
                show_progress=False).trajectories.to_pandas()
    assert gone not in set(t["paper_id"])
    for cap, rows in t.groupby("year"):
        expected = top[(top["year"] == cap) & (top["paper_id"] != gone)].head(5)
        assert rows["paper_id"].tolist() == expected["paper_id"].tolist()
        assert rows["score"].tolist() == expected["score"].tolist() and rows["rank"].tolist() == [1, 2, 3, 4, 5]
