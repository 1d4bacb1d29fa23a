"""Inputs as researchers hold them (ranker.io.formats): CSV, TSV, JSON Lines, gzip, list columns, booleans.

Each shape is written here by hand (small fixtures, no downloads) and must give the graph, and
the job the scores, of the same citations written as a plain two-column parquet file.
"""

from __future__ import annotations

import errno
import fcntl
import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from oracles import nx_pagerank, write_parquet
from ranker import parse_config, run_job
from ranker.errors import InputError, OutputError
from ranker.io import formats, read_citations, works_snapshot
from ranker.io.formats import detect_format, remove_converted

CITING = ["W1", "W1", "W2", "W3", "W3", "W4", "W0042"]
CITED = ["W2", "W3", "W3", "W1", "W0042", "W1", "W2"]


@pytest.fixture(autouse=True)
def _fresh_copies():
    yield
    remove_converted()


def pairs_of(edges) -> set[tuple[str, str]]:
    ids = edges.ids.ids.to_pylist()
    return {(ids[a], ids[b]) for a, b in zip(edges.citing.tolist(), edges.cited.tolist())}


def write_text(path, text: str, *, gz: bool = False) -> str:
    if gz:
        with gzip.open(path, "wt") as fh:
            fh.write(text)
    else:
        path.write_text(text)
    return str(path)


def test_csv_tsv_and_gzip_give_the_parquet_graph(tmp_path):
    ref = read_citations([write_parquet(tmp_path / "c.parquet", {"citing": CITING, "cited": CITED})])
    body = "".join(f"{a},{b}\n" for a, b in zip(CITING, CITED))
    for path, text, gz in [(tmp_path / "c.csv", "citing,cited\n" + body, False),
                           (tmp_path / "c.csv.gz", "citing,cited\n" + body, True),
                           (tmp_path / "c.tsv", "citing\tcited\n" + body.replace(",", "\t"), False)]:
        got = read_citations([write_text(path, text, gz=gz)])
        assert pairs_of(got) == pairs_of(ref) and got.ids.kind == "string", path


def test_csv_ids_keep_their_leading_zeros(tmp_path):
    path = write_text(tmp_path / "c.csv", "citing,cited\n0001001,0002002\n1001,0001001\n")
    got = read_citations([path])
    assert sorted(got.ids.ids.to_pylist()) == ["0001001", "0002002", "1001"]


def test_openalex_jsonl_gz_part_with_a_list_column(tmp_path):
    """OpenAlex works: ``id`` and ``referenced_works``, a snapshot part named part_000.gz."""
    works = {}
    for a, b in zip(CITING, CITED):
        works.setdefault(a, []).append(b)
    works["W9"] = []  # cites nothing
    lines = "".join(json.dumps({"id": k, "referenced_works": v, "title": f"paper {k}"}) + "\n"
                    for k, v in works.items())
    part = tmp_path / "updated_date=2024-01-01"
    part.mkdir()
    path = write_text(part / "part_000.gz", lines, gz=True)
    assert detect_format(path) == "jsonl"
    got = read_citations([path], citing_column="id", cited_column="referenced_works")
    expected = set(zip(CITING, CITED))
    assert pairs_of(got) == expected and got.stats["citation_rows"] == len(CITING)


def test_parquet_list_column_and_its_job_equal_networkx(tmp_path):
    works = {"a": ["b", "c"], "b": ["c"], "c": ["a"], "d": ["a", "a"], "e": None}
    write_parquet(tmp_path / "works.parquet", {"id": list(works), "referenced_works": list(works.values())})
    cfg = parse_config({"input": {"citations": "works.parquet", "citing_column": "id",
                                  "cited_column": "referenced_works"},
                        "rank": {"device": "cpu", "tol": 1e-13}, "output": {"dir": "out"}}, base=tmp_path)
    result = run_job(cfg, show_progress=False)
    ids = result.ids.ids.to_pylist()
    edges = [(ids.index(a), ids.index(b)) for a, refs in works.items() for b in refs or []]
    oracle = nx_pagerank(edges, len(ids))  # duplicates counted once, as the job's default
    np.testing.assert_allclose(result.global_result.scores[:, 0].numpy(), oracle, rtol=0, atol=1e-12)


def test_a_null_inside_a_list_names_the_original_row(tmp_path):
    write_parquet(tmp_path / "w.parquet", {"id": ["a", "b", "c"], "refs": [["b"], ["c", None], ["a"]]})
    with pytest.raises(InputError, match=r"w\.parquet, column 'refs', row 1: null id in the list"):
        read_citations([str(tmp_path / "w.parquet")], citing_column="id", cited_column="refs")


def test_unknown_paper_in_an_exploded_file_names_the_original_row(tmp_path):
    write_parquet(tmp_path / "w.parquet", {"id": ["a", "b", "c"], "refs": [["b", "c"], ["c"], ["a", "zz"]]})
    write_parquet(tmp_path / "p.parquet", {"paper_id": ["a", "b", "c"]})
    with pytest.raises(InputError, match=r"column 'refs', row 2: paper 'zz' is not in"):
        read_citations([str(tmp_path / "w.parquet")], citing_column="id", cited_column="refs",
                       papers=str(tmp_path / "p.parquet"), unknown_papers="error")


def test_semantic_scholar_boolean_weights_and_the_offset(tmp_path):
    path = write_text(tmp_path / "citations.jsonl", "".join(
        json.dumps({"citingcorpusid": a, "citedcorpusid": b, "isinfluential": inf}) + "\n"
        for a, b, inf in [(1, 2, True), (1, 3, False), (2, 3, False), (3, 1, True)]))
    kw = dict(citing_column="citingcorpusid", cited_column="citedcorpusid", weight_column="isinfluential")
    plain = read_citations([path], **kw)
    assert plain.ids.kind == "integer" and sorted(plain.weight.tolist()) == [0.0, 0.0, 1.0, 1.0]
    offset = read_citations([path], weight_offset=1.0, **kw)
    assert sorted(offset.weight.tolist()) == [1.0, 1.0, 2.0, 2.0]
    write_parquet(tmp_path / "s2.parquet", {"citingcorpusid": [1, 1], "citedcorpusid": [2, 3],
                                            "isinfluential": [True, False]})
    native = read_citations([str(tmp_path / "s2.parquet")], **kw)
    assert sorted(native.weight.tolist()) == [0.0, 1.0]


def test_a_folder_of_mixed_files_is_read_and_other_files_are_named_in_the_log(tmp_path, caplog):
    from ranker.io.listing import citation_files

    folder = tmp_path / "cit"
    folder.mkdir()
    write_parquet(folder / "a.parquet", {"citing": ["x"], "cited": ["y"]})
    write_text(folder / "b.csv", "citing,cited\ny,z\n")
    write_text(folder / "README.txt", "not data")
    write_text(folder / "manifest", "{}")
    with caplog.at_level("WARNING", logger="ranker"):
        files = citation_files(str(folder))
    assert [f.rsplit("/", 1)[1] for f in files] == ["a.parquet", "b.csv"]
    assert "README.txt" in caplog.text and "manifest" in caplog.text
    got = read_citations(files)
    assert pairs_of(got) == {("x", "y"), ("y", "z")}


def test_csv_seeds_and_papers_files_in_a_job(tmp_path):
    write_text(tmp_path / "c.csv", "citing,cited\n" + "".join(f"{a},{b}\n" for a, b in zip(CITING, CITED)))
    papers = sorted(set(CITING + CITED))
    write_text(tmp_path / "papers.tsv", "paper_id\tyear\n" + "".join(f"{p}\t2000\n" for p in papers))
    write_text(tmp_path / "seeds.csv", "seed_set,paper_id\ns,W1\nt,W0042\n")
    cfg = parse_config({"input": {"citations": "c.csv", "papers": "papers.tsv"},
                        "personalize": {"seeds": "seeds.csv", "top_k": 2},
                        "rank": {"device": "cpu"}, "output": {"dir": "out"}}, base=tmp_path)
    result = run_job(cfg, show_progress=False)
    assert result.metadata["ingest"]["papers_listed"] == 5
    table = pq.read_table(tmp_path / "out" / "personalized.parquet")
    assert table.num_rows == 4 and set(table.column("seed_set").to_pylist()) == {"s", "t"}


def test_an_unreadable_csv_is_one_line_naming_the_file(tmp_path):
    path = write_text(tmp_path / "c.csv", "citing,cited\na,b\nc,d,e\n")
    with pytest.raises(InputError, match=r"c\.csv: not a readable csv file near data row"):
        read_citations([path])


def test_detect_format_by_name_and_content(tmp_path):
    assert detect_format(str(tmp_path / "x.csv.gz")) == "csv"
    assert detect_format(str(tmp_path / "x.ndjson")) == "jsonl"
    pq.write_table(pa.table({"a": [1]}), tmp_path / "noext")
    assert detect_format(str(tmp_path / "noext")) == "parquet"
    assert detect_format(write_text(tmp_path / "t", "a\tb\n1\t2\n")) == "tsv"
    assert detect_format(write_text(tmp_path / "c", "a,b\n1,2\n")) == "csv"
    assert detect_format(str(tmp_path / "c"), "jsonl") == "jsonl"


def openalex_works(tmp_path) -> str:
    """Three OpenAlex works as the snapshot writes them (JSON Lines, gzipped, nested authorships)."""
    works = [
        {"id": "W1", "display_name": "First", "publication_year": 2019, "publication_date": "2019-03-01",
         "referenced_works": ["W2", "W3"],
         "authorships": [{"author_position": "first", "author": {"id": "A1", "display_name": "Ada"}},
                         {"author_position": "last", "author": {"id": "A2", "display_name": "Bo"}}]},
        {"id": "W2", "display_name": "Second", "publication_year": 2018, "publication_date": "2018-07-15",
         "referenced_works": ["W3"],
         "authorships": [{"author_position": "first", "author": {"id": "A2", "display_name": "Bo"}}]},
        {"id": "W3", "display_name": "Third", "publication_year": 2017, "publication_date": "2017-01-02",
         "referenced_works": [],
         "authorships": [{"author_position": "first", "author": {"id": "A3", "display_name": "Cy"}},
                         {"author_position": "middle", "author": {"id": "A1", "display_name": "Ada"}},
                         {"author_position": "last", "author": {"id": "A2", "display_name": "Bo"}}]},
    ]
    return write_text(tmp_path / "part_000.gz", "".join(json.dumps(w) + "\n" for w in works), gz=True)


def test_an_openalex_snapshot_part_is_citations_papers_and_authorships_at_once(tmp_path):
    from ranker.solvers.author_rankers import counting_weights

    part = openalex_works(tmp_path)
    cfg = parse_config({"input": {"citations": part, "citing_column": "id", "cited_column": "referenced_works",
                                  "papers": part, "paper_id_column": "id", "date_column": "publication_date",
                                  "year_column": "publication_year", "title_column": "display_name",
                                  "authorships": part, "authorship_paper_column": "id",
                                  "author_column": "authorships.author.id"},
                        "rank": {"device": "cpu", "algorithm": "citerank", "tol": 1e-13},
                        "authors": {"counting": "first_last"}, "output": {"dir": "out"}}, base=tmp_path)
    result = run_job(cfg, show_progress=False)
    papers = pq.read_table(tmp_path / "out" / "papers.parquet")
    assert papers.column_names[-3:] == ["year", "date", "title"]
    rows = {r["paper_id"]: r for r in papers.to_pylist()}
    assert rows["W1"]["title"] == "First" and rows["W3"]["year"] == 2017
    assert str(rows["W2"]["date"]) == "2018-07-15" and rows["W3"]["citations"] == 2
    authors = pq.read_table(tmp_path / "out" / "authors.parquet")
    assert sorted(authors.column("author").to_pylist()) == ["A1", "A2", "A3"]
    assert dict(zip(authors.column("author").to_pylist(), authors.column("papers").to_pylist())) == {
        "A1": 2, "A2": 3, "A3": 1}
    # first_last on W3 (A3 first, A1 middle, A2 last): the byline order of the list is the position
    w = counting_weights(np.array([0, 0, 0]), np.array([0, 1, 2]), "first_last")
    scores = dict(zip(result.ids.ids.to_pylist(), result.global_result.scores[:, 0].tolist()))
    a1 = dict(zip(authors.column("author").to_pylist(), authors.column("score").to_pylist()))["A1"]
    assert a1 == pytest.approx(scores["W1"] * 0.5 + scores["W3"] * w[1], rel=1e-12)


def test_semantic_scholar_papers_with_an_authors_list(tmp_path):
    """S2 ``papers``: corpusid, year, publicationdate (ISO text), authors[] of {authorId, name}."""
    cit = write_text(tmp_path / "citations.jsonl", "".join(
        json.dumps({"citingcorpusid": a, "citedcorpusid": b, "isinfluential": False}) + "\n"
        for a, b in [(1, 2), (1, 3), (2, 3)]))
    papers = write_text(tmp_path / "papers.jsonl.gz", "".join(json.dumps(p) + "\n" for p in [
        {"corpusid": 1, "year": 2020, "publicationdate": "2020-02-02", "title": "one",
         "authors": [{"authorId": "9", "name": "N"}, {"authorId": "8", "name": "M"}]},
        {"corpusid": 2, "year": 2019, "publicationdate": None, "title": "two", "authors": [{"authorId": "8"}]},
        {"corpusid": 3, "year": 2018, "publicationdate": "2018-05-05", "title": "three", "authors": []}]), gz=True)
    cfg = parse_config({"input": {"citations": cit, "citing_column": "citingcorpusid",
                                  "cited_column": "citedcorpusid", "papers": papers, "paper_id_column": "corpusid",
                                  "date_column": "publicationdate", "authorships": papers,
                                  "authorship_paper_column": "corpusid", "author_column": "authors.authorId"},
                        "rank": {"device": "cpu"}, "output": {"dir": "out", "report": False}}, base=tmp_path)
    run_job(cfg, show_progress=False)
    authors = pq.read_table(tmp_path / "out" / "authors.parquet")
    assert dict(zip(authors.column("author").to_pylist(), authors.column("papers").to_pylist())) == {"9": 1, "8": 2}
    papers_out = {r["paper_id"]: r for r in pq.read_table(tmp_path / "out" / "papers.parquet").to_pylist()}
    assert papers_out[2]["date"] is None and str(papers_out[3]["date"]) == "2018-05-05"
    assert papers_out[1]["title"] == "one" and papers_out[3]["citations"] == 2


# --------------------------------------------------------------------------- edges of text inputs


def test_a_blank_id_in_csv_or_tsv_is_refused_like_a_null_naming_file_column_and_row(tmp_path):
    for name, text in [("c.csv", "citing,cited\na,b\n,c\nd,e\n"), ("c.tsv", "citing\tcited\na\tb\nb\t\n"),
                       ("q.csv", 'citing,cited\na,b\nb,""\n')]:
        path = write_text(tmp_path / name, text)
        col = "citing" if name == "c.csv" else "cited"
        with pytest.raises(InputError, match=rf"{name}, column '{col}', row 1: null id \(or an empty cell\)"):
            read_citations([path])


def test_quoted_newlines_past_the_first_block_are_read(tmp_path, monkeypatch):
    monkeypatch.setattr(formats, "BLOCK_BYTES", 256)
    rows = [f'"W{i}","W{i + 1}","a title\nover two lines {i}"' for i in range(200)]
    path = write_text(tmp_path / "c.csv", "citing,cited,title\n" + "\n".join(rows) + "\n")
    got = read_citations([path])
    assert got.citing.size == 200 and pairs_of(got) == {(f"W{i}", f"W{i + 1}") for i in range(200)}


def test_a_weight_integral_in_the_first_block_and_fractional_later_is_read(tmp_path, monkeypatch):
    monkeypatch.setattr(formats, "BLOCK_BYTES", 128)
    weights = [1] * 40 + [0.25, 2.5]
    cites = [(f"p{i % 7}", f"p{(i * 3 + 1) % 7}") for i in range(len(weights))]
    text = "citing,cited,weight\n" + "".join(f"{a},{b},{w}\n" for (a, b), w in zip(cites, weights))
    got = read_citations([write_text(tmp_path / "c.csv", text)], weight_column="weight")
    ref = read_citations([write_parquet(tmp_path / "c.parquet", {"citing": [a for a, _ in cites],
                                                                  "cited": [b for _, b in cites],
                                                                  "weight": [float(w) for w in weights]})],
                         weight_column="weight")
    assert sorted(got.weight.tolist()) == sorted(ref.weight.tolist())


def test_a_json_column_whose_type_widens_later_is_read_from_the_whole_file(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(formats, "BLOCK_BYTES", 200)
    lines = [json.dumps({"citing": f"W{i}", "cited": f"W{i + 1}", "weight": 1}) for i in range(30)]
    lines += [json.dumps({"citing": "W99", "cited": "W1", "weight": 0.5, "note": "a field first seen here"})]
    path = write_text(tmp_path / "c.jsonl", "\n".join(lines) + "\n")
    got = read_citations([path], weight_column="weight")
    assert got.citing.size == 31 and sorted(got.weight.tolist())[0] == 0.5


def test_a_json_line_longer_than_the_block_is_read(tmp_path, monkeypatch):
    monkeypatch.setattr(formats, "BLOCK_BYTES", 64)
    lines = [json.dumps({"id": "W1", "referenced_works": [f"W{i}" for i in range(2, 400)]}),
             json.dumps({"id": "W2", "referenced_works": ["W1"]})]
    path = write_text(tmp_path / "works.jsonl", "\n".join(lines) + "\n")
    got = read_citations([path], citing_column="id", cited_column="referenced_works")
    assert got.citing.size == 399


def test_json_nested_thirty_thousand_deep_is_one_line_not_a_crash(tmp_path):
    deep = '{"citing": "a", "cited": "b", "x": ' + "[" * 30_000 + "]" * 30_000 + "}"
    path = write_text(tmp_path / "c.jsonl", '{"citing": "a", "cited": "b"}\n' + deep + "\n")
    with pytest.raises(InputError, match=r"c\.jsonl: line 2 is nested deeper than 1000 levels"):
        read_citations([path])


def test_a_full_temp_folder_is_said_as_such(tmp_path, monkeypatch):
    path = write_text(tmp_path / "c.csv", "citing,cited\na,b\n")

    def full(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(formats.pq.ParquetWriter, "write_table", full)
    with pytest.raises(OutputError, match=r"no space left in the temp folder writing the parquet copy of .*c\.csv; "
                                          r"point TMPDIR at a folder with room"):
        read_citations([path])


def test_duplicate_column_names_are_refused_in_csv_json_and_parquet(tmp_path):
    csv_path = write_text(tmp_path / "c.csv", "citing,cited,cited\na,b,c\n")
    with pytest.raises(InputError, match=r"c\.csv: column 'cited' appears twice"):
        read_citations([csv_path])
    table = pa.Table.from_arrays([pa.array(["a"]), pa.array(["b"]), pa.array(["c"])],
                                 names=["citing", "cited", "cited"])
    pq.write_table(table, tmp_path / "d.parquet")
    with pytest.raises(InputError, match=r"d\.parquet: column 'cited' appears twice"):
        read_citations([str(tmp_path / "d.parquet")])


def test_an_exploded_list_copies_only_the_columns_the_job_reads(tmp_path, monkeypatch):
    monkeypatch.setattr(works_snapshot, "read_works", lambda *a, **k: None)  # the general reader's copy
    works = [{"id": f"W{i}", "referenced_works": [f"W{j}" for j in range(i)], "abstract": "x" * 1000,
              "title": f"t{i}"} for i in range(1, 30)]
    path = write_text(tmp_path / "works.jsonl", "".join(json.dumps(w) + "\n" for w in works))
    got = read_citations([path], citing_column="id", cited_column="referenced_works")
    assert got.citing.size == sum(range(1, 30))
    copies = list(Path(formats._folder[0]).glob("*.parquet"))
    assert len(copies) == 1 and set(pq.read_schema(copies[0]).names) == {"id", "referenced_works",
                                                                         formats.SOURCE_ROW}


def test_copy_folders_of_killed_jobs_are_swept_and_living_ones_kept(tmp_path):
    dead = tmp_path / "rank-citations-inputs-999999-abcdefgh"
    alive = tmp_path / "rank-citations-inputs-1-ijklmnop"
    old = tmp_path / "rank-citations-inputs-qrstuvwx"  # an older version's folder, no lock file
    young = tmp_path / "rank-citations-inputs-yzabcdef"
    mine = tmp_path / "other-folder"
    for d in (dead, alive, old, young, mine):
        d.mkdir()
        (d / "0000-c.csv.parquet").write_bytes(b"x")
    (dead / ".lock").write_text("")
    (alive / ".lock").write_text("")
    fd = os.open(alive / ".lock", os.O_RDWR)
    fcntl.flock(fd, fcntl.LOCK_EX)  # a running job holds it (here: this process, through another descriptor)
    day = 2 * 86400
    os.utime(old, (os.stat(old).st_atime - day, os.stat(old).st_mtime - day))
    try:
        assert formats.sweep_copy_folders(str(tmp_path)) == 2
    finally:
        os.close(fd)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([alive.name, young.name, mine.name])


def test_a_kill_leaves_a_copy_folder_that_the_next_run_removes(tmp_path):
    path = write_text(tmp_path / "c.csv", "citing,cited\na,b\n")
    env = {**os.environ, "TMPDIR": str(tmp_path / "tmp")}
    (tmp_path / "tmp").mkdir()
    code = f"from ranker.io import read_citations; import os; read_citations([{path!r}]); os._exit(9)"
    subprocess.run([sys.executable, "-c", code], env=env, check=False)
    left = [p.name for p in (tmp_path / "tmp").iterdir()]
    assert len(left) == 1 and left[0].startswith("rank-citations-inputs-")
    subprocess.run([sys.executable, "-c", code.replace("os._exit(9)", "from ranker.io.formats import "
                                                        "remove_converted; remove_converted()")], env=env, check=True)
    assert list((tmp_path / "tmp").iterdir()) == []


def test_the_api_reads_an_edited_file_again_and_leaves_no_copy(tmp_path):
    """An edit that keeps size and mtime (cp -p) must not return the old copy's scores."""
    import ranker

    path = tmp_path / "c.csv"
    path.write_text("citing,cited\na,b\nb,c\n")
    first = ranker.rank(path).to_pylist()
    st = os.stat(path)
    path.write_text("citing,cited\na,c\nc,b\n")  # same size
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    second = ranker.rank(path).to_pylist()
    assert first != second and second[0]["paper_id"] == "b"
    assert formats._folder == []  # ranker.rank removes its own copies


def _works_lines(rng: np.random.Generator, n: int, *, late_int_id: bool, empty_first: bool) -> list[str]:
    """OpenAlex-like records: nested fields the job does not read, optional and null ones, lists."""
    lines = []
    for i in range(n):
        refs = [] if (empty_first and i < 5) else [f"W{int(j)}" for j in rng.integers(0, n, int(rng.integers(0, 6)))]
        rec = {"id": f"W{i}", "title": None if i % 7 == 0 else f"t{i}",
               "authorships": [{"author": {"id": f"A{int(j)}", "name": "x" * int(j % 9)}, "position": int(j)}
                               for j in rng.integers(0, 50, int(rng.integers(0, 4)))],
               "abstract_inverted_index": {f"w{int(j)}": [int(j)] for j in rng.integers(0, 99, 5)},
               "referenced_works": refs}
        if i % 5 == 0:
            rec["is_retracted"] = False  # an optional field
        if late_int_id and i == n - 3:
            rec["referenced_works"] = [17]  # an id of another type, past the first block
        lines.append(json.dumps(rec))
    return lines


@pytest.mark.parametrize("late_int_id", [False, True])
@pytest.mark.parametrize("empty_first", [False, True])
def test_a_json_part_parsed_for_its_two_columns_equals_one_parsed_in_full(tmp_path, monkeypatch, late_int_id,
                                                                            empty_first):
    """After the first block, only ``id`` and ``referenced_works`` are parsed; what is read (pairs, rows
    named in errors) is what parsing every field gives, including a later block whose values do not fit
    the first block's types and a first block whose lists are all empty (no type yet)."""
    from ranker.io import text_batches

    monkeypatch.setattr(works_snapshot, "read_works", lambda *a, **k: None)  # the general reader
    monkeypatch.setattr(formats, "BLOCK_BYTES", 1500)
    lines = _works_lines(np.random.default_rng(3), 120, late_int_id=late_int_id, empty_first=empty_first)
    path = write_text(tmp_path / "part_000.gz", "\n".join(lines) + "\n", gz=True)
    narrowed = []
    real = text_batches.parse_json

    def spy(chunk, options):
        narrowed.append(options.unexpected_field_behavior == "ignore")
        return real(chunk, options)

    monkeypatch.setattr(text_batches, "parse_json", spy)

    def read():
        try:
            return pairs_of(read_citations([path], citing_column="id", cited_column="referenced_works"))
        except InputError as exc:
            return str(exc)
        finally:
            remove_converted()

    got = read()
    monkeypatch.setattr(text_batches, "narrow_options", lambda *a: None)
    assert got == read()  # the same as every field parsed
    if not late_int_id:
        assert isinstance(got, set) and len(got) > 100
    assert any(narrowed)  # once a block gave the two columns their types (a first pass, or the pass after it)


def test_snapshot_parts_are_converted_together_and_the_first_bad_part_in_order_is_named(tmp_path):
    """Parts of one snapshot (the same name in two update folders) are converted on several threads:
    every pair is read once, and with two bad parts the error names the first in file order."""
    expected = set()
    for d, lo in {"updated_date=2024-01-01": 0, "updated_date=2024-02-01": 40}.items():
        (tmp_path / "works" / d).mkdir(parents=True)
        for p in range(2):
            recs = [{"id": f"W{i}", "referenced_works": [f"W{i - 1}", f"W{i // 2}"]}
                    for i in range(lo + p * 20 + 1, lo + p * 20 + 21)]
            expected |= {(r["id"], c) for r in recs for c in r["referenced_works"]}
            write_text(tmp_path / "works" / d / f"part_00{p}.gz", "".join(json.dumps(r) + "\n" for r in recs),
                       gz=True)
    from ranker.io.listing import citation_files

    files = citation_files(str(tmp_path / "works"))
    got = read_citations(files, citing_column="id", cited_column="referenced_works")
    assert pairs_of(got) == expected and got.citing.size == 160  # 80 works, 2 rows each (W1, W2 repeat one)
    remove_converted()
    write_text(Path(files[3]), '{"id": "W1", "referenced_works": [null]}\n', gz=True)
    write_text(Path(files[1]), '{"id": "W2", "referenced_works": ["W1"]}\n{"id": \n', gz=True)
    with pytest.raises(InputError, match=r"2024-01-01/part_001\.gz: not valid JSON Lines"):
        read_citations(files, citing_column="id", cited_column="referenced_works")


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_a_work_whose_list_is_empty_or_null_is_a_paper_citing_nothing(tmp_path, fmt):
    """A work with ``referenced_works`` empty or null, cited by no one, is still a paper: it gets a score
    (the uniform teleport counts it) exactly as networkx gives an isolated node."""
    works = {"W1": ["W2", "W3"], "W2": ["W3"], "W3": [], "W4": None, "W5": [], "W6": ["W1"]}
    if fmt == "jsonl":
        path = write_text(tmp_path / "part_000.gz", "".join(json.dumps({"id": k, "referenced_works": v}) + "\n"
                                                          for k, v in works.items()), gz=True)
    else:
        path = str(tmp_path / "works.parquet")
        pq.write_table(pa.table({"id": list(works), "referenced_works": pa.array(list(works.values()),
                                                                                 pa.list_(pa.string()))}), path)
    cfg = parse_config({"input": {"citations": path, "citing_column": "id", "cited_column": "referenced_works"},
                        "rank": {"tol": 1e-13, "device": "cpu"}, "output": {"dir": "out", "report": False}},
                       base=tmp_path)
    result = run_job(cfg, show_progress=False)
    got = dict(zip(result.papers.column("paper_id").to_pylist(), result.papers.column("score").to_pylist()))
    index = {w: i for i, w in enumerate(works)}
    edges = [(index[a], index[b]) for a, refs in works.items() for b in refs or []]
    expected = nx_pagerank(edges, len(works))
    assert set(got) == set(works) and max(abs(got[w] - expected[index[w]]) for w in works) < 1e-10
    meta = json.loads((tmp_path / "out" / "run.json").read_text())
    assert meta["ingest"]["citation_rows"] == 4 and meta["ingest"]["records_citing_nothing"] == 3


@pytest.mark.parametrize("policy", ["error", "drop", "keep"])
def test_a_work_citing_nothing_absent_from_the_papers_file_follows_unknown_papers(tmp_path, policy):
    lines = [{"id": "W1", "referenced_works": ["W2"]}, {"id": "W7", "referenced_works": []},
             {"id": "W2", "referenced_works": ["W1"]}]
    path = write_text(tmp_path / "part_000.gz", "".join(json.dumps(r) + "\n" for r in lines), gz=True)
    write_parquet(tmp_path / "papers.parquet", {"paper_id": ["W1", "W2"]})
    read = dict(citing_column="id", cited_column="referenced_works", papers=str(tmp_path / "papers.parquet"),
                unknown_papers=policy)
    if policy == "error":
        with pytest.raises(InputError, match=r"part_000\.gz, column 'id', row 1: paper 'W7' is not in"):
            read_citations([path], **read)
        return
    got = read_citations([path], **read)
    assert got.ids.ids.to_pylist() == (["W1", "W2"] if policy == "drop" else ["W1", "W2", "W7"])
    assert pairs_of(got) == {("W1", "W2"), ("W2", "W1")} and got.stats["citation_rows"] == 2
