"""ranker/io/works_snapshot.py: a part's text as the scanner reads it (python-isal's igzip, else Arrow's
gzip) against Python's gzip module, on a part of several gzip members, a plain part and a part cut short; the
views of whole lines the scanner reads against line_blocks."""

from __future__ import annotations

import gzip
import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ranker.io.text_batches import line_blocks, line_views
from ranker.io.works_snapshot import decompressed


def _lines(n, start=0):
    return "".join(f'{{"id": "https://openalex.org/W{i}", "referenced_works": []}}\n' for i in range(start, start + n))


def test_a_part_of_several_members_and_a_plain_part_read_as_gzip_reads_them(tmp_path):
    part = tmp_path / "part_000.gz"
    with open(part, "wb") as fh:  # members written one after another, as some writers split parts
        fh.write(gzip.compress(_lines(3000).encode()))
        fh.write(gzip.compress(_lines(2000, 3000).encode()))
    with decompressed(str(part)) as stream:
        got = b"".join(line_views(stream, 4096))
    assert got == gzip.decompress(part.read_bytes()) == (_lines(3000) + _lines(2000, 3000)).encode()
    plain = tmp_path / "part_001"
    plain.write_text(_lines(10))
    with decompressed(str(plain)) as stream:
        assert stream.read() == _lines(10).encode()


def test_a_part_cut_short_raises_what_the_scanner_hands_to_the_general_reader(tmp_path):
    part = tmp_path / "part_000.gz"
    data = gzip.compress(_lines(5000).encode())
    part.write_bytes(data[:len(data) // 2])
    with pytest.raises((EOFError, OSError)), decompressed(str(part)) as stream:
        while stream.read(1 << 16):
            pass


@settings(max_examples=200, deadline=None)
@given(lines=st.lists(st.binary(max_size=40).map(lambda b: b.replace(b"\n", b"x")), max_size=30),
       last_newline=st.booleans(), block=st.integers(1, 64))
def test_line_views_are_the_text_in_whole_lines_as_line_blocks_cuts_it(lines, last_newline, block):
    """Lines shorter and longer than a read, empty lines, no newline at the end: the views join to
    the text, each but the last ends a line, none is empty, and they hold the lines line_blocks holds."""
    text = b"\n".join(lines) + (b"\n" if last_newline and lines else b"")
    views = [bytes(v) for v in line_views(io.BytesIO(text), block)]
    assert b"".join(views) == text == b"".join(line_blocks(io.BytesIO(text), block))
    assert all(v for v in views) and all(v.endswith(b"\n") for v in views[:-1])
