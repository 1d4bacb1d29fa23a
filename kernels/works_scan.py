"""OpenAlex-shaped JSON Lines scanned for two fields: each record's id and its list of cited ids (numba).

A works snapshot record is a few KB of JSON of which ranking needs ``id`` and
``referenced_works``, both prefix-and-digits strings (``https://openalex.org/W2741809807``). The
reference is the general reader: pyarrow's JSON parser into a parquet copy, the list exploded
(:mod:`ranker.io.formats`), the ids then parsed under an :class:`~ranker.io.id_patterns.IdPattern`.
This reads the text once: a JSON tokenizer that tracks depth and strings (escapes included), and
at the top level of each record reads the two keys' values straight into ``int64`` numbers.

It gives up (returns the offending byte, and the caller reads the file the general way, which
names the problem or reads what this does not) on anything but the plain shape: a line that is
not one JSON object, an id or cited id that is not a string following the pattern (another
prefix, a leading zero, more than 18 digits, an escape inside), a list holding anything but such
strings, a key given twice, a record without ``id``, nesting deeper than ``max_depth``.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True, inline="always")
def _space(c):  # pragma: no cover - compiled
    return c == 32 or c == 9 or c == 13


@njit(cache=True, nogil=True)
def _skip_string(buf, i):  # pragma: no cover - compiled
    """``buf[i]`` is an opening quote: the index after the closing one, or -1."""
    i += 1
    n = buf.size
    while i < n:
        c = buf[i]
        if c == 92:
            i += 2
            continue
        if c == 34:
            return i + 1
        if c == 10:
            return -1
        i += 1
    return -1


@njit(cache=True, nogil=True)
def _skip_value(buf, i, max_depth):  # pragma: no cover - compiled
    """Any JSON value starting at ``buf[i]`` (after spaces): the index after it, or -1 (a newline inside,
    an unbalanced bracket, nesting deeper than ``max_depth``)."""
    n = buf.size
    depth = 0
    while i < n:
        c = buf[i]
        if c == 34:
            i = _skip_string(buf, i)
            if i < 0:
                return -1
            if depth == 0:
                return i
            continue
        if depth == 0 and (c == 44 or c == 125):  # a literal (number, true, false, null) ended by , or }
            return i
        if c == 123 or c == 91:
            depth += 1
            if depth > max_depth:
                return -1
        elif c == 125 or c == 93:
            depth -= 1
            if depth < 0:
                return -1
            if depth == 0:
                return i + 1
        elif c == 10:
            return -1
        i += 1
    return -1


@njit(cache=True, nogil=True)
def _id(buf, i, prefix):  # pragma: no cover - compiled
    """The id string at ``buf[i]`` (a quote): ``(number, index after it)``, or ``(0, -1)`` off the pattern."""
    if buf[i] != 34:
        return 0, -1
    i += 1
    p = prefix.size
    if i + p >= buf.size:
        return 0, -1
    for k in range(p):
        if buf[i + k] != prefix[k]:
            return 0, -1
    i += p
    start = i
    v = np.int64(0)
    while i < buf.size and 48 <= buf[i] <= 57:
        v = v * 10 + (buf[i] - 48)
        i += 1
    digits = i - start
    if digits < 1 or digits > 18 or (buf[start] == 48 and digits > 1) or i >= buf.size or buf[i] != 34:
        return 0, -1
    return v, i + 1


@njit(cache=True, nogil=True)
def scan_works(buf, id_key, list_key, prefix, max_depth, citing, cited, cites_nothing):  # pragma: no cover
    """Scan the whole lines of ``buf`` (uint8). For each record, one row per cited id (``citing``,
    ``cited``) or, when its list is empty or null, one row with ``cited = citing`` and
    ``cites_nothing`` set. Returns ``(rows, -1)``, or ``(rows so far, offending byte)``."""
    n = buf.size
    rows = 0
    i = 0
    while i < n:
        while i < n and _space(buf[i]):
            i += 1
        if i < n and buf[i] == 10:  # a blank line
            i += 1
            continue
        if i >= n:
            break
        if buf[i] != 123:
            return rows, i
        i += 1
        have_id = False
        have_list = False
        record_id = np.int64(0)
        first_row = rows
        listed = 0
        while True:
            while i < n and _space(buf[i]):
                i += 1
            if i >= n:
                return rows, i
            if buf[i] == 125:  # the record ends
                i += 1
                break
            if buf[i] == 44:
                i += 1
                continue
            if buf[i] != 34:
                return rows, i
            key_start = i + 1
            j = _skip_string(buf, i)
            if j < 0:
                return rows, i
            key_len = j - 1 - key_start
            i = j
            while i < n and _space(buf[i]):
                i += 1
            if i >= n or buf[i] != 58:
                return rows, i
            i += 1
            while i < n and _space(buf[i]):
                i += 1
            if i >= n:
                return rows, i
            is_id = key_len == id_key.size
            if is_id:
                for k in range(key_len):
                    if buf[key_start + k] != id_key[k]:
                        is_id = False
                        break
            is_list = key_len == list_key.size
            if is_list:
                for k in range(key_len):
                    if buf[key_start + k] != list_key[k]:
                        is_list = False
                        break
            if is_id:
                if have_id:
                    return rows, key_start
                record_id, i = _id(buf, i, prefix)
                if i < 0:
                    return rows, key_start
                have_id = True
            elif is_list:
                if have_list:
                    return rows, key_start
                have_list = True
                if buf[i] == 110:  # null: cites nothing
                    if i + 4 > n or buf[i + 1] != 117 or buf[i + 2] != 108 or buf[i + 3] != 108:
                        return rows, i
                    i += 4
                    continue
                if buf[i] != 91:
                    return rows, i
                i += 1
                while True:
                    while i < n and _space(buf[i]):
                        i += 1
                    if i >= n:
                        return rows, i
                    if buf[i] == 93:
                        i += 1
                        break
                    if buf[i] == 44:
                        i += 1
                        continue
                    v, i = _id(buf, i, prefix)
                    if i < 0:
                        return rows, key_start
                    if rows >= cited.size:
                        return rows, key_start
                    cited[rows] = v
                    cites_nothing[rows] = False
                    rows += 1
                    listed += 1
            else:
                i = _skip_value(buf, i, max_depth)
                if i < 0:
                    return rows, key_start
        if not have_id:
            return rows, i - 1
        if listed == 0:  # a paper citing nothing: one row standing for it
            if rows >= cited.size:
                return rows, i - 1
            cited[rows] = record_id
            cites_nothing[rows] = True
            rows += 1
        for r in range(first_row, rows):
            citing[r] = record_id
        while i < n and _space(buf[i]):
            i += 1
        if i < n and buf[i] != 10:
            return rows, i
        i += 1
    return rows, -1
