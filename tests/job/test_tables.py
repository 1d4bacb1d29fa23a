"""Analysts' tables (ranker.job.tables and the stages that write them): ties, citations, paper facts, seeds."""

from __future__ import annotations

import datetime
import json

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import rankdata

from oracles import write_parquet
from ranker import parse_config, run_job
from ranker.job.tables import tie_ranks


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 4), min_size=1, max_size=40), st.lists(st.integers(0, 2), min_size=1, max_size=40))
def test_tie_ranks_equal_scipy_rankdata_within_groups(values, group_sizes):
    scores = np.sort(np.array(values, float))[::-1]
    groups = np.sort(np.resize(np.array(group_sizes), scores.size))
    order = np.lexsort((-scores, groups))
    scores, groups = scores[order], groups[order]
    for ties, method in [("ordinal", "ordinal"), ("min", "min"), ("dense", "dense")]:
        got = tie_ranks(scores, ties, groups)
        for g in np.unique(groups):
            m = groups == g
            assert got[m].tolist() == rankdata(-scores[m], method=method).astype(int).tolist(), (ties, g)


def small_job(tmp_path, **extra) -> dict:
    # a and b are symmetric (each cited once by c, citing nothing else): their scores tie exactly
    write_parquet(tmp_path / "c.parquet", {"citing": ["c", "c", "d", "d", "e"], "cited": ["a", "b", "c", "c", "d"]})
    write_parquet(tmp_path / "p.parquet", {"paper_id": ["a", "b", "c", "d", "e", "f"],
                                           "year": pa.array([2001, 2002, 2003, 2004, 2005, 2006], pa.int16()),
                                           "title": ["A", "B", "C", "D", None, "F"]})
    write_parquet(tmp_path / "s.parquet", {"seed_set": ["s", "s", "t"], "paper_id": ["e", "d", "c"]})
    job = {"input": {"citations": "c.parquet", "papers": "p.parquet"}, "rank": {"device": "cpu"},
           "personalize": {"seeds": "s.parquet", "top_k": 4}, "output": {"dir": "out"}}
    for section, values in extra.items():
        job.setdefault(section, {}).update(values)
    return job


@pytest.mark.parametrize("ties, want", [("ordinal", [1, 2, 3, 4, 5, 6]), ("min", [1, 2, 3, 4, 5, 5]),
                                        ("dense", [1, 2, 3, 4, 4, 4])])
def test_papers_table_ties_citations_and_facts(tmp_path, ties, want):
    result = run_job(parse_config(small_job(tmp_path, output={"ties": ties}), base=tmp_path), show_progress=False)
    t = pq.read_table(tmp_path / "out" / "papers.parquet")
    assert t.column_names == ["paper_id", "score", "rank", "share", "citations", "year", "title"]
    rows = {r["paper_id"]: r for r in t.to_pylist()}
    assert rows["a"]["score"] == rows["b"]["score"]  # the tie the option is about
    # the uncited papers e and f tie at the bottom, and a and b above them: dense ranks close the gap
    assert t.column("rank").to_pylist()[-2:] == want[-2:]
    assert {p: rows[p]["citations"] for p in rows} == {"a": 1, "b": 1, "c": 1, "d": 1, "e": 0, "f": 0}
    assert {p: rows[p]["year"] for p in rows} == {"a": 2001, "b": 2002, "c": 2003, "d": 2004, "e": 2005, "f": 2006}
    assert rows["e"]["title"] is None and rows["a"]["title"] == "A"
    assert result.metadata["ingest"]["papers_listed"] == 6
    ranks = t.column("rank").to_pylist()
    i, j = sorted([t.column("paper_id").to_pylist().index("a"), t.column("paper_id").to_pylist().index("b")])
    assert (ranks[i] == ranks[j]) == (ties != "ordinal")


def test_personalized_marks_seeds_and_can_leave_them_out(tmp_path):
    run_job(parse_config(small_job(tmp_path), base=tmp_path), show_progress=False)
    t = pq.read_table(tmp_path / "out" / "personalized.parquet")
    seeds = {("s", "e"), ("s", "d"), ("t", "c")}
    got = [(s, p) in seeds for s, p in zip(t.column("seed_set").to_pylist(), t.column("paper_id").to_pylist())]
    assert got == t.column("is_seed").to_pylist() and any(got)
    run_job(parse_config(small_job(tmp_path, personalize={"exclude_seeds": True}), base=tmp_path),
            show_progress=False)
    t2 = pq.read_table(tmp_path / "out" / "personalized.parquet")
    assert not any(t2.column("is_seed").to_pylist())
    for name in ("s", "t"):
        rows = t2.filter(pc.equal(t2.column("seed_set"), name))
        assert rows.column("rank").to_pylist() == list(range(1, rows.num_rows + 1))
        assert sum(rows.column("share").to_pylist()) == pytest.approx(1.0)  # the non-seed mass, all listed
        before = t.filter(pc.and_(pc.equal(t.column("seed_set"), name), pc.invert(t.column("is_seed"))))
        kept = before.num_rows  # the non-seed rows of the first list come first, with the same scores
        np.testing.assert_array_equal(rows.column("score").to_numpy()[:kept], before.column("score").to_numpy())


def test_run_json_has_times_the_method_used_and_every_file_the_full_metadata(tmp_path):
    before = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    run_job(parse_config(small_job(tmp_path), base=tmp_path), show_progress=False)
    meta = json.loads((tmp_path / "out" / "run.json").read_text())
    started = datetime.datetime.fromisoformat(meta["started"])
    assert before <= started <= datetime.datetime.fromisoformat(meta["finished"])
    assert meta["method"] in ("dag", "power") and meta["config"]["rank"]["method"] == "auto"
    for name in ("papers", "personalized"):
        file_meta = json.loads(pq.read_schema(tmp_path / "out" / f"{name}.parquet").metadata[b"rank_citations"])
        assert file_meta["config"] == meta["config"] and file_meta["method"] == meta["method"]
        assert file_meta["ingest"] == meta["ingest"] and file_meta["started"] == meta["started"]


@pytest.mark.parametrize("how", ["compact", "fixed", "integer"])
def test_numeric_id_keys_sort_ties_as_the_text_ids_would(how):
    """The numpy sort on IdMap.sort_keys equals Arrow's sort on (score, id) with many ties, ids that
    are prefixes of others ("12", "120", "1200", "13", "9"), zero, and (integers) negative ids."""
    from ranker.io import IdMap
    from ranker.io.id_patterns import IdPattern
    from ranker.job.tables import ranked_table

    rng = np.random.default_rng(5)
    numbers = np.unique(np.concatenate([[0, 9, 12, 13, 120, 1200, 10**17, 999_999_999_999_999_999],
                                        rng.integers(0, 10**6, 400)]))
    if how == "integer":
        numbers = np.concatenate([numbers, -numbers[1:40]])
    rng.shuffle(numbers)
    if how == "integer":
        ids = IdMap(ids=pa.array(numbers, pa.int64()), kind="integer")
    else:
        pattern = IdPattern("W", 18 if how == "fixed" else 0)
        ids = IdMap(kind="string", pattern=pattern, numbers=pa.array(numbers, pa.int64()))
    n = len(numbers)
    scores = rng.choice([0.1, 0.2, 0.3], n)  # three runs of ties
    excluded = np.array([3, 7, 11])
    weights = rng.random(n)  # the shares: of another column than the scores
    want = ranked_table(ids.output_ids(), scores, weights, excluded, {"c": np.arange(n), "f": weights}, ties="min")
    got = ranked_table(ids, scores, weights, excluded, {"c": np.arange(n), "f": weights}, ties="min")
    assert ids.sort_keys() is not None and got.equals(want)
    assert got.schema == want.schema


def test_facts_taken_by_row_equal_the_join_on_ids():
    """papers.parquet's facts by the papers file's row (one process) and by a join on the ids (torchrun)."""
    from ranker.job.tables import with_facts_by_row, with_paper_facts

    rng = np.random.default_rng(6)
    n_file, n = 50, 65  # 15 papers the file does not list
    ids = np.array([f"https://openalex.org/W{i}" for i in rng.permutation(10_000)[:n]], dtype=object)
    facts = pa.table({"paper_id": pa.array(ids[:n_file]), "year": pa.array(rng.integers(1990, 2000, n_file)),
                      "title": pa.array([None if i % 7 == 0 else f"t{i}" for i in range(n_file)])})
    order = rng.permutation(n)  # the table's rows: papers in score order; each one's row in the file
    table = pa.table({"paper_id": pa.array(ids[order]), "score": pa.array(rng.random(n)),
                      "__row": pa.array(order)})
    by_row = with_facts_by_row(table, facts)
    joined = with_paper_facts(table.drop_columns(["__row"]), facts)
    assert by_row.equals(joined)
    assert by_row.column("year").null_count == n - n_file


@settings(max_examples=40, deadline=None)
@given(st.lists(st.sampled_from([0.0, -0.0, 0.1, 0.25, 0.5, -1.5]), min_size=0, max_size=60), st.integers(1, 9),
       st.sampled_from(["ordinal", "min", "dense"]), st.sampled_from(["text", "compact", "integer"]),
       st.sets(st.integers(0, 59), max_size=6))
def test_ranked_rows_in_slices_are_the_sorted_table(scores, rows_per_slice, ties, kind, excluded):
    """RankedRows' slices, concatenated, are the whole ranked table; both equal a plain Python sort on
    (-score, id text) with ranks from scipy's rankdata and shares over the rows kept. Negative scores
    (a z-score ranker's) included; -0.0 and 0.0 are one score, tied by id."""
    from ranker.io import IdMap
    from ranker.io.id_patterns import IdPattern
    from ranker.job.tables import RankedRows, ranked_table

    n = len(scores)
    numbers = np.random.default_rng(n).permutation(np.arange(7, 7 + 13 * n, 13)) if n else np.zeros(0, np.int64)
    if kind == "integer":
        ids = IdMap(ids=pa.array(numbers, pa.int64()), kind="integer")
    elif kind == "compact":
        ids = IdMap(kind="string", pattern=IdPattern("W", 0), numbers=pa.array(numbers, pa.int64()))
    else:
        ids = IdMap(ids=pa.array([f"p{v}" for v in numbers], pa.string()), kind="string")
    text = ids.output_ids().to_pylist()
    scores_np = np.array(scores, np.float64)
    mass = np.arange(1, n + 1, dtype=np.float64)
    gone = np.array(sorted(i for i in excluded if i < n), np.int64)
    rows = RankedRows.sort(ids, scores_np, mass, gone, {"c": np.arange(n)}, ties=ties)
    parts = [rows.table(a, b) for a, b in rows.slices(rows_per_slice)]
    got = pa.concat_tables(parts)
    assert got.equals(ranked_table(ids, scores_np, mass, gone, {"c": np.arange(n)}, ties=ties))
    kept = [i for i in range(n) if i not in set(gone.tolist())]
    want = sorted(kept, key=lambda i: (-scores[i], text[i]))
    assert got.column("c").to_pylist() == want
    assert got.column("paper_id").to_pylist() == [text[i] for i in want]
    method = {"ordinal": "ordinal", "min": "min", "dense": "dense"}[ties]
    expect_rank = rankdata([-scores[i] for i in want], method=method).astype(int).tolist() if want else []
    if ties == "ordinal":
        expect_rank = list(range(1, len(want) + 1))
    assert got.column("rank").to_pylist() == expect_rank
    total = sum(mass[i] for i in kept)
    assert np.allclose(got.column("share").to_numpy(), [mass[i] / total for i in want], rtol=1e-15, atol=0)


def test_papers_parquet_is_written_in_slices_and_read_back(tmp_path, monkeypatch):
    """The job writes papers.parquet a slice at a time (row groups of the slice size) and keeps no
    table: result.papers reads the committed file, equal to it row for row."""
    import ranker.job.tables as tables_module

    rng = np.random.default_rng(2)
    citing, cited = rng.integers(0, 500, 3000), rng.integers(0, 500, 3000)
    write_parquet(tmp_path / "c.parquet", {"citing": [f"W{i}" for i in citing], "cited": [f"W{i}" for i in cited]})
    real = tables_module.RankedRows.slices
    monkeypatch.setattr(tables_module.RankedRows, "slices", lambda self, rows=1 << 20: real(self, 64))
    result = run_job(parse_config({"input": {"citations": "c.parquet"}, "output": {"dir": "out", "report": False}},
                                  base=tmp_path), show_progress=False)
    f = pq.ParquetFile(tmp_path / "out" / "papers.parquet")
    assert f.metadata.num_row_groups == -(-f.metadata.num_rows // 64) > 1
    assert "rank_citations" in json.dumps({k.decode(): 1 for k in f.schema_arrow.metadata})
    assert not isinstance(result.tables["papers"], pa.Table)
    written = pq.read_table(tmp_path / "out" / "papers.parquet").replace_schema_metadata(None)
    assert result.papers.equals(written)
    assert written.column("rank").to_pylist() == list(range(1, written.num_rows + 1))
    assert pc.all(pc.greater_equal(written.column("score").slice(0, written.num_rows - 1),
                                   written.column("score").slice(1))).as_py()
