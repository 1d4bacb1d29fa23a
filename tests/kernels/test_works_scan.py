"""The works scanner (kernels/works_scan.py, ranker/io/works_snapshot.py) against its reference, the
general reader: pyarrow's JSON parser, the list exploded, the ids parsed (ranker.io.formats)."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ranker.io.works_snapshot as works_snapshot
from ranker.errors import GraphError, InputError
from ranker.io import read_citations
from ranker.io.formats import remove_converted

W = "https://openalex.org/W"


def _read(paths, general: bool) -> object:
    """The pairs (as id strings), the papers and the facts, or the error's text."""
    with pytest.MonkeyPatch.context() as m:
        if general:
            m.setattr(works_snapshot, "read_works", lambda *a, **k: None)
        try:
            e = read_citations([str(p) for p in paths], citing_column="id", cited_column="referenced_works")
        except (InputError, GraphError) as exc:
            return f"error: {exc}"
        finally:
            remove_converted()
    ids = e.ids.output_ids(np.arange(len(e.ids))).to_pylist()
    pairs = sorted((ids[a], ids[b]) for a, b in zip(e.citing.tolist(), e.cited.tolist()))
    return pairs, sorted(ids), e.stats.get("records_citing_nothing", 0), e.stats.get("reader", "general")


def _write(path, records, *, spaces: bool = False) -> None:
    with gzip.open(path, "wt") as fh:
        for r in records:
            fh.write((json.dumps(r) if spaces else json.dumps(r, separators=(",", ":"))) + "\n" if r is not None
                     else "\n")


filler = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) |
                      st.text(alphabet='ab"\\]}{[,: \u00e9\u4e2d', max_size=6),
                      lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
                          st.sampled_from(["id", "referenced_works", "x", "a b"]), inner, max_size=3), max_leaves=8)
work_id = st.integers(1, 40).map(lambda i: f"{W}{i}")
record = st.fixed_dictionaries(
    {"id": work_id, "referenced_works": st.none() | st.lists(work_id, max_size=4)},
    optional={"title": filler, "authorships": filler, "z": filler})


@settings(max_examples=60, deadline=None)
@given(records=st.lists(st.one_of(record, st.none()), min_size=1, max_size=25), spaces=st.booleans(),
       shuffle=st.randoms())
def test_the_scanner_reads_what_json_and_the_general_reader_read(tmp_path_factory, records, spaces, shuffle):
    """Keys in any order, nested objects with their own ``id``, strings with quotes, escapes and brackets,
    blank lines, empty and null lists: the papers and citations Python's json module finds, and the
    general reader's wherever pyarrow reads the part (it refuses some fields the job does not read:
    lists of mixed types, a list column null in every record)."""
    records = [None if r is None else dict(shuffle.sample(sorted(r.items()), len(r))) for r in records]
    if all(r is None for r in records):
        records.append({"id": f"{W}1", "referenced_works": [f"{W}2"]})
    path = tmp_path_factory.mktemp("w") / "part_000.gz"
    _write(path, records, spaces=spaces)
    with gzip.open(path, "rt") as fh:
        works = [json.loads(line) for line in fh if line.strip()]
    pairs = sorted((w["id"], c) for w in works for c in w["referenced_works"] or [])
    papers = sorted({w["id"] for w in works} | {c for _, c in pairs})
    expected = (pairs, papers, sum(not w["referenced_works"] for w in works))
    scanned, general = _read([path], False), _read([path], True)
    assert scanned[:3] == expected and scanned[3].startswith("works scanner")
    if not isinstance(general, str):
        assert general[:3] == expected


def test_it_gives_the_job_to_the_general_reader_off_the_shape(tmp_path):
    good = [{"id": f"{W}{i}", "referenced_works": [f"{W}{i + 1}"]} for i in range(1, 6)]
    cases = {
        "a leading zero": good + [{"id": f"{W}07", "referenced_works": []}],
        "an integer id": good + [{"id": 8, "referenced_works": []}],
        "an escaped slash": good + [{"id": "https:\\/\\/openalex.org\\/W9", "referenced_works": []}],
        "another prefix": good + [{"id": "https://openalex.org/A9", "referenced_works": []}],
        "a null in a list": good + [{"id": f"{W}9", "referenced_works": [None]}],
        "an id given twice": good + [{"id": f"{W}9", "referenced_works": []}],
    }
    for name, records in cases.items():
        path = tmp_path / f"{name}.gz"
        if name == "an escaped slash":
            with gzip.open(path, "wt") as fh:
                fh.write("".join(json.dumps(r) + "\n" for r in good))
                fh.write('{"id": "https:\\/\\/openalex.org\\/W9", "referenced_works": []}\n')
        elif name == "an id given twice":
            with gzip.open(path, "wt") as fh:
                fh.write("".join(json.dumps(r) + "\n" for r in good))
                fh.write(f'{{"id": "{W}9", "id": "{W}10", "referenced_works": []}}\n')
        else:
            _write(path, records)
        scanned, general = _read([path], False), _read([path], True)
        assert scanned == general, name
        assert isinstance(scanned, str) or scanned[3] == "general", name


def test_a_malformed_line_is_named_by_the_general_reader(tmp_path):
    path = tmp_path / "part_000.gz"
    with gzip.open(path, "wt") as fh:
        fh.write(f'{{"id": "{W}1", "referenced_works": ["{W}2"]}}\n{{"id": "{W}2", "referenced_works": [\n')
    got = _read([path], False)
    assert got.startswith("error: ") and "part_000.gz" in got and "not valid JSON Lines" in got


def test_several_parts_are_numbered_in_file_order_as_the_general_reader_does(tmp_path, monkeypatch):
    rng = np.random.default_rng(4)
    paths = []
    for p in range(3):
        recs = [{"id": f"{W}{int(i)}", "referenced_works": [f"{W}{int(j)}" for j in rng.integers(1, 500, 3)],
                 "abstract_inverted_index": {"a": [1, 2]}} for i in rng.integers(1, 500, 200)]
        path = tmp_path / f"part_00{p}.gz"
        _write(path, recs)
        paths.append(path)
    scanned = read_citations([str(p) for p in paths], citing_column="id", cited_column="referenced_works")
    assert scanned.stats["reader"].startswith("works scanner")
    with monkeypatch.context() as m:
        m.setattr(works_snapshot, "read_works", lambda *a, **k: None)
        general = read_citations([str(p) for p in paths], citing_column="id", cited_column="referenced_works")
    remove_converted()
    n = len(scanned.ids)
    assert scanned.ids.output_ids(np.arange(n)).to_pylist() == general.ids.output_ids(np.arange(n)).to_pylist()
    assert np.array_equal(scanned.pairs, general.pairs)


@pytest.mark.parametrize("blank", [False, True])
def test_a_part_of_only_records_citing_nothing(tmp_path, blank):
    path = tmp_path / "part_000.gz"
    _write(path, [{"id": f"{W}1", "referenced_works": []}] + ([None] if blank else []) +
           [{"id": f"{W}2", "referenced_works": [f"{W}1"]}])
    scanned, general = _read([path], False), _read([path], True)
    assert scanned[:3] == general[:3] == ([(f"{W}2", f"{W}1")], [f"{W}1", f"{W}2"], 1)


def test_a_truncated_part_is_named_by_the_general_reader(tmp_path):
    """A gzip stream cut short is the general reader's one-line error, not the scanner's exception."""
    path = tmp_path / "part_000.gz"
    _write(path, [{"id": f"{W}{i}", "referenced_works": [f"{W}{i + 1}"], "x": "y" * 50} for i in range(1, 3000)])
    path.write_bytes(path.read_bytes()[:-200])
    with pytest.MonkeyPatch.context() as m:
        m.setattr(works_snapshot, "read_works", lambda *a, **k: None)
        general = _read([path], True)
    assert _read([path], False) == general and general.startswith("error: ") and "part_000.gz" in general
