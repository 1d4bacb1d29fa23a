"""The JSON nesting scan (ranker.kernels.json_depth) and the reader's check in front of it
(ranker.io.text_batches.first_deep_line) against the plain-Python reference."""

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ranker.io.text_batches import first_deep_line
from ranker.kernels.json_depth import deep_line, first_deep_line_reference

values = st.recursive(st.none() | st.booleans() | st.integers() | st.text(alphabet='ab{}[]"\\\n ', max_size=6),
                      lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner,
                                                                                   max_size=3),
                      max_leaves=30)


# the compiled scan, and the reader's check in front of it (numpy's count of opening brackets per
# line where that settles it, the compiled scan where a line holds more than ``limit``)
CHECKS = pytest.mark.parametrize("check", [deep_line, first_deep_line], ids=["kernel", "reader"])


@CHECKS
@settings(max_examples=300, deadline=None)
@given(st.lists(values, min_size=1, max_size=6), st.integers(0, 12))
def test_the_check_equals_the_reference_on_json_lines(check, records, limit):
    data = "".join(json.dumps({"r": r}) + "\n" for r in records).encode()
    assert check(data, limit) == first_deep_line_reference(data, limit)


@CHECKS
@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200), st.integers(0, 8))
def test_the_check_equals_the_reference_on_any_bytes(check, data, limit):
    data = data.replace(b"\r", b"")
    assert check(data, limit) == first_deep_line_reference(data, limit)


def test_brackets_inside_strings_and_escaped_quotes_do_not_count():
    line = json.dumps({"title": "[[[[[[[[[[ \" {{{{{{{{", "x": [[1]]}).encode() + b"\n"
    assert deep_line(line, 3) == -1 and deep_line(line, 2) == 0
    assert deep_line(b'{"a": 1}\n' + b"[" * 50 + b"\n", 10) == 1


def test_the_reader_scans_only_blocks_with_a_line_of_many_brackets(monkeypatch):
    """Lines of at most ``limit`` brackets cannot be deeper: the compiled scan (numba) is not asked."""
    import ranker.kernels.json_depth as kernel

    calls = []
    monkeypatch.setattr(kernel, "deep_line", lambda data, limit: calls.append(limit) or -2)
    shallow = b"".join(json.dumps({"id": i, "refs": [[i], {"a": [1, 2]}]}).encode() + b"\n" for i in range(500))
    assert first_deep_line(shallow, 5) == -1 and calls == []  # 5 brackets a line, 2,500 in the block
    wide = shallow + json.dumps({"x": [[1]] * 4}).encode() + b"\n"  # 6 brackets, 3 deep: needs the scan
    assert first_deep_line(wide, 5) == -2 and calls == [5]
