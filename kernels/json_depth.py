"""Nesting depth of JSON Lines text, found before a parser sees it (numba, with a plain reference).

pyarrow's JSON reader (RapidJSON underneath) recurses once per nesting level: a record nested
30,000 deep crashes the process with a segmentation fault (measured with pyarrow 2x; 5,000
parse). A reader of untrusted files therefore measures each line's depth first and refuses a
line deeper than a limit, naming it. Real records are shallow (an OpenAlex work: 5 levels).

The depth counts ``{`` and ``[`` outside strings. A string starts and ends at a ``"`` that is
not escaped (preceded by an odd run of backslashes). Lines are separated by ``\\n``; the depth
starts again at 0 on each line, so a malformed line cannot hide a deep one after it.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def first_deep_line(buf, limit):  # pragma: no cover - compiled
    """Index (counted from 0) of the first line of ``buf`` (uint8) nested deeper than ``limit``, or -1."""
    line = 0
    depth = 0
    in_string = False
    backslashes = 0
    for i in range(buf.size):
        c = buf[i]
        if c == 10:  # newline
            line += 1
            depth = 0
            in_string = False
            backslashes = 0
            continue
        if in_string:
            if c == 92:  # backslash
                backslashes += 1
                continue
            if c == 34 and backslashes % 2 == 0:  # an unescaped quote ends the string
                in_string = False
            backslashes = 0
            continue
        if c == 34:
            in_string = True
            backslashes = 0
        elif c == 123 or c == 91:  # { [
            depth += 1
            if depth > limit:
                return line
        elif c == 125 or c == 93:  # } ]
            depth -= 1
    return -1


def first_deep_line_reference(data: bytes, limit: int) -> int:
    """Plain-Python reference of :func:`first_deep_line` (one character at a time, same rules)."""
    for n, line in enumerate(data.split(b"\n")):
        depth, in_string, escaped = 0, False, False
        for c in line.decode("latin-1"):
            if in_string:
                if escaped:
                    escaped = False
                elif c == "\\":
                    escaped = True
                elif c == '"':
                    in_string = False
                continue
            if c == '"':
                in_string = True
            elif c in "{[":
                depth += 1
                if depth > limit:
                    return n
            elif c in "}]":
                depth -= 1
    return -1


def deep_line(data: bytes, limit: int) -> int:
    """:func:`first_deep_line` over ``bytes`` without a copy."""
    return int(first_deep_line(np.frombuffer(data, dtype=np.uint8), limit))
