"""String ids as integers (ranker.io.id_patterns): exact round trips, and the same graph and outputs as text ids."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from oracles import write_parquet
from ranker import parse_config, run_job
from ranker.io import read_citations
from ranker.io.formats import remove_converted
from ranker.io.id_patterns import IdPattern, detect_pattern

prefixes = st.sampled_from(["", "W", "https://openalex.org/W", "A", "ü-", "10.1000/", "a b"])
digit_strings = st.text(alphabet="0123456789", min_size=1, max_size=22)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.tuples(prefixes, digit_strings) | st.text(max_size=8), min_size=1, max_size=30))
def test_a_detected_pattern_gives_back_exactly_the_same_ids_or_none_is_detected(items):
    ids = [p + d if isinstance(p, str) and isinstance(d, str) else p for p, d in
           [(i if isinstance(i, tuple) else (i, "")) for i in items]]
    arr = pa.array(ids, pa.large_string())
    pattern = detect_pattern(arr)
    if pattern is None:
        return
    numbers = pattern.encode(arr)
    assert numbers is not None and numbers.type == pa.int64()
    assert pattern.decode(numbers).to_pylist() == ids  # never a changed id
    assert all(i.startswith(pattern.prefix) for i in ids)


@pytest.mark.parametrize("ids,want", [
    (["https://openalex.org/W2741809807", "https://openalex.org/W7"], IdPattern("https://openalex.org/W", 0)),
    (["0001001", "9711200", "0000007"], IdPattern("", 7)),  # arXiv: fixed width, leading zeros kept
    (["A5023888391", "A1"], IdPattern("A", 0)),
    (["0001001", "1001"], None),  # leading zeros and mixed widths: "1001" and "0001001" would collide
    (["W1", "X2"], None), (["W1a"], None), (["", "1"], None), (["1" * 19], None),  # beyond int64's digits
    (["W-1"], IdPattern("W-", 0)), (["00", "01"], IdPattern("", 2)),
])
def test_patterns_by_hand(ids, want):
    assert detect_pattern(pa.array(ids)) == want


def test_encode_refuses_an_id_off_the_pattern_and_lookups_give_null():
    p = IdPattern("W", 0)
    assert p.encode(pa.array(["W1", "W01"])) is None and p.encode(pa.array(["W1", "X1"])) is None
    assert p.encode_each(pa.array(["W3", "W03", "w3", None])).to_pylist() == [3, None, None, None]


def _write(tmp_path, citing, cited, name="c.parquet", **extra):
    return write_parquet(tmp_path / name, {"citing": citing, "cited": cited, **extra})


def _job(tmp_path, out, compact, exclude, **inp):
    return parse_config({"input": {"citations": str(tmp_path / "c.parquet"), "compact_ids": compact, **inp},
                         "rank": {"device": "cpu", "tol": 1e-12},
                         "personalize": {"seeds": str(tmp_path / "s.parquet"), "top_k": 5},
                         "output": {"dir": str(tmp_path / out), "exclude_ids": [exclude]}},
                        base=tmp_path)


@pytest.mark.parametrize("prefix,width", [("https://openalex.org/W", 0), ("", 7)])
def test_a_job_with_compact_ids_writes_the_same_files_as_with_text_ids(tmp_path, prefix, width):
    rng = np.random.default_rng(7)

    def name(k):
        return f"{prefix}{k:0{width}d}" if width else f"{prefix}{k}"

    n, m = 300, 2000
    numbers = rng.choice(10**6, size=n, replace=False) + (0 if width else 1)
    citing = [name(numbers[i]) for i in rng.integers(0, n, m)]
    cited = [name(numbers[i]) for i in rng.integers(0, n, m)]
    _write(tmp_path, citing, cited)
    papers = sorted(set(citing + cited))[: n // 2] + [name(10**6 + 5)]  # one paper with no citation
    write_parquet(tmp_path / "p.parquet", {"paper_id": papers, "year": list(range(len(papers)))})
    write_parquet(tmp_path / "s.parquet", {"seed_set": ["a", "b", "b"], "paper_id": papers[:3]})
    for unknown in ("keep", "drop"):
        outs = []
        for compact in (True, False):
            out = f"{unknown}-{compact}"
            res = run_job(_job(tmp_path, out, compact, papers[3], papers=str(tmp_path / "p.parquet"),
                               unknown_papers=unknown), show_progress=False)
            assert ("string ids as integers" in res.metadata["ingest"]["id_numbering"]) == compact
            outs.append({t: pq.read_table(tmp_path / out / f"{t}.parquet").replace_schema_metadata(None)
                         for t in ("papers", "personalized")})
        for t in ("papers", "personalized"):
            assert outs[0][t].equals(outs[1][t]), (unknown, t)
        assert outs[0]["papers"].schema.field("paper_id").type == pa.string()


def test_an_id_off_the_pattern_after_the_first_rows_falls_back_to_text(tmp_path, caplog):
    import logging

    citing = [f"W{i}" for i in range(70_000)] + ["W0123"]  # the sample is the first 65,536 rows
    cited = [f"W{i + 1}" for i in range(70_000)] + ["W5"]
    _write(tmp_path, citing, cited)
    log = logging.getLogger("ranker")
    log.addHandler(caplog.handler)
    try:
        with caplog.at_level(logging.INFO, logger="ranker"):
            got = read_citations([str(tmp_path / "c.parquet")])
    finally:
        log.removeHandler(caplog.handler)
        remove_converted()
    assert "id 'W0123' does not follow the pattern" in caplog.text and "reading the ids as text" in caplog.text
    ids = got.ids.ids.to_pylist()
    assert not got.ids.compact and "W0123" in ids and "W123" in ids  # two papers, never merged


def test_a_papers_file_off_the_pattern_keeps_text_ids(tmp_path):
    _write(tmp_path, ["W1", "W2"], ["W2", "W3"])
    write_parquet(tmp_path / "p.parquet", {"paper_id": ["W1", "W2", "W3", "paper-x"]})
    got = read_citations([str(tmp_path / "c.parquet")], papers=str(tmp_path / "p.parquet"))
    assert not got.ids.compact and got.ids.ids.to_pylist()[:4] == ["W1", "W2", "W3", "paper-x"]


def test_unknown_and_duplicate_papers_are_named_by_their_text_with_compact_ids(tmp_path):
    from ranker.errors import InputError

    _write(tmp_path, ["W1", "W2"], ["W2", "W9"])
    write_parquet(tmp_path / "p.parquet", {"paper_id": ["W1", "W2"]})
    with pytest.raises(InputError, match=r"c.parquet, column 'cited', row 1: paper 'W9' is not in"):
        read_citations([str(tmp_path / "c.parquet")], papers=str(tmp_path / "p.parquet"), unknown_papers="error")
    write_parquet(tmp_path / "p.parquet", {"paper_id": ["W1", "W2", "W1"]})
    with pytest.raises(InputError, match=r"p.parquet, column 'paper_id', row 2: duplicate paper id 'W1'"):
        read_citations([str(tmp_path / "c.parquet")], papers=str(tmp_path / "p.parquet"))


@settings(max_examples=400, deadline=None)
@given(prefixes, st.integers(0, 12), st.lists(st.text(alphabet="0123456789+- aW", max_size=14), min_size=1,
                                             max_size=20), st.integers(0, 3))
def test_the_compiled_parse_equals_the_arrow_reference(prefix, width, tails, cut):
    """Any strings, sliced (an array's offset), string and large_string: the same numbers, or both refuse."""
    for arr in (pa.array([prefix + t for t in tails], pa.string()), pa.array([prefix + t for t in tails],
                                                                              pa.large_string())):
        arr = arr.slice(min(cut, len(arr) - 1))
        p = IdPattern(prefix, width)
        got, want = p.encode(arr), p.encode_reference(arr)
        assert (got is None) == (want is None), (arr.to_pylist(), got, want)
        if got is not None:
            assert got.to_pylist() == want.to_pylist()


def test_a_papers_file_is_checked_whole_but_its_pattern_read_from_its_first_rows(tmp_path):
    """The first 65,536 papers have no leading zero (width 0 would do); a later one has ("X0000123"): the
    pattern is then looked for in every id, and all 7 digits wide is found. Ids come back unchanged."""
    first = [f"X{i}" for i in range(1_000_000, 1_070_000)]
    later = [f"X{i:07d}" for i in range(100, 130)]
    write_parquet(tmp_path / "p.parquet", {"paper_id": first + later})
    write_parquet(tmp_path / "c.parquet", {"citing": first[:50] + later[:5], "cited": later[5:10] + first[50:100]})
    e = read_citations([str(tmp_path / "c.parquet")], papers=str(tmp_path / "p.parquet"))
    assert e.ids.pattern == IdPattern("X", 7)
    assert e.ids.output_ids().to_pylist()[:len(first) + len(later)] == first + later
    text = read_citations([str(tmp_path / "c.parquet")], papers=str(tmp_path / "p.parquet"), compact_ids=False)
    assert not text.ids.compact and text.ids.output_ids().equals(e.ids.output_ids())


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(st.integers(-2**63, 2**63 - 1) | st.integers(-3, 40), max_size=60), min_size=1,
                max_size=6))
def test_arrows_numbering_gives_the_compiled_tables_codes_and_order(chunks):
    """A small job numbers its ids with Arrow's hash kernels (nothing compiled to load): the same
    codes, call after call, and the same ids in code order as the compiled table."""
    from ranker.io.id_numbering import ArrowNumbering
    from ranker.kernels.numbering import HashNumbering

    arrow, compiled = ArrowNumbering(), HashNumbering(4)
    for chunk in chunks:
        values = np.array(chunk, np.int64)
        out = np.full(len(values), -7, np.int32)
        np.testing.assert_array_equal(arrow.number(values, out=out), compiled.number(values))
        np.testing.assert_array_equal(out, compiled.number(values))
    np.testing.assert_array_equal(arrow.ids, compiled.ids)
    assert len(arrow) == len(compiled)
