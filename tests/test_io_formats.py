"""Inputs as researchers hold them (ranker.io.formats): CSV, TSV, JSON Lines, gzip, list columns, booleans.

Each shape is written here by hand (small fixtures, no downloads) and must give the graph, and
the job the scores, of the same citations written as a plain two-column parquet file.
"""

from __future__ import annotations

import gzip
import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from oracles import nx_pagerank, write_parquet
from ranker import parse_config, run_job
from ranker.errors import InputError
from ranker.io import read_citations
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
    from ranker.authors import counting_weights

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
