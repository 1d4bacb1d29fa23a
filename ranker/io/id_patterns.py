"""String ids that are a common prefix and digits, stored as integers and written back unchanged.

Many real id columns are a fixed prefix followed by a number: OpenAlex works
(``https://openalex.org/W2741809807``), authors (``A5023888391``), arXiv's old-style ids
(``9711200``, ``0001001``: seven digits, leading zeros kept), Semantic Scholar corpus ids read
from CSV as text. Hashing them as strings costs what the string costs (a 32-byte URL plus
offsets, per batch dictionary and again in the merged one); as ``int64`` they cost 8 bytes and
hash like integers. An :class:`IdPattern` is detected from the data (:func:`detect_pattern`),
every id must follow it (:meth:`IdPattern.encode` says when one does not, and the reader then
takes the general string path), and :meth:`IdPattern.decode` gives back exactly the same
strings:

- ``width = 0``: the digits have no leading zero (``"0"`` itself aside) and at most 18 digits,
  so ``str(int(d)) == d`` for every id, whatever its length (mixed widths round-trip);
- ``width > 0``: every id has exactly ``width`` digits (leading zeros allowed): the digits are
  padded back to that width.

Anything else (mixed prefixes, leading zeros with mixed widths, letters after the digits,
more than 18 digits, empty strings) is not a pattern: those ids stay strings.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

#: Most digits an id may have to be stored as int64 (10**18 - 1 < 2**63 - 1).
MAX_DIGITS = 18
_SPLIT = r"^(?P<prefix>.*?)(?P<digits>[0-9]+)$"


@dataclass(frozen=True)
class IdPattern:
    """``prefix`` followed by digits: ``width`` digits exactly, or (``width = 0``) no leading zero."""

    prefix: str
    width: int = 0

    def _regex(self) -> str:
        import re

        digits = f"[0-9]{{{self.width}}}" if self.width else f"(0|[1-9][0-9]{{0,{MAX_DIGITS - 1}}})"
        return f"^{re.escape(self.prefix)}{digits}$"

    def matches(self, ids: pa.Array) -> pa.Array:
        """Boolean: which of ``ids`` (strings) follow the pattern (null ids: null)."""
        return pc.match_substring_regex(ids, self._regex())

    def encode(self, ids: pa.Array, *, compiled: bool = True) -> pa.Array | None:
        """``ids`` (strings) as ``int64``, or None when one of them does not follow the pattern (nulls stay null).

        One compiled pass over the strings' bytes (:mod:`ranker.kernels.id_parse`); with nulls,
        or ``compiled=False`` (a small job, :func:`ranker.kernels.compiled_pays`),
        :meth:`encode_reference`.
        """
        if len(ids) == 0:
            return pa.array([], pa.int64())
        if pa.types.is_dictionary(ids.type):
            ids = ids.dictionary_decode()
        if ids.null_count or not compiled:
            return self.encode_reference(ids)
        from ..kernels.id_parse import parse_array  # numba: loaded when ids are parsed

        numbers, bad = parse_array(ids, self.prefix, self.width, MAX_DIGITS)
        return None if bad >= 0 else pa.array(numbers, pa.int64())

    def encode_reference(self, ids: pa.Array) -> pa.Array | None:
        """:meth:`encode` in Arrow compute kernels: a regular expression, a slice and a cast."""
        if not pc.all(self.matches(ids)).as_py():  # nulls are skipped: they stay null (and are refused later)
            return None
        digits = pc.utf8_slice_codeunits(ids, len(self.prefix)) if self.prefix else ids
        return pc.cast(digits, pa.int64())

    def encode_each(self, ids: pa.Array) -> pa.Array:
        """``ids`` as ``int64``, null where an id does not follow the pattern (for looking ids up)."""
        ok = pc.fill_null(self.matches(ids), False)
        kept = pc.if_else(ok, ids, pa.scalar(None, ids.type))
        digits = pc.utf8_slice_codeunits(kept, len(self.prefix)) if self.prefix else kept
        return pc.cast(digits, pa.int64())

    def decode(self, numbers: pa.Array) -> pa.Array:
        """The ids (``large_string``) of ``numbers`` (``int64``): exactly the strings that were encoded."""
        text = pc.cast(numbers, pa.large_string())
        if self.width:
            text = pc.utf8_lpad(text, self.width, "0")
        if self.prefix:
            text = pc.binary_join_element_wise(pa.scalar(self.prefix, pa.large_string()), text,
                                               pa.scalar("", pa.large_string()))
        return text


def detect_pattern(ids: pa.Array) -> IdPattern | None:
    """The :class:`IdPattern` every id of ``ids`` (a sample of a column: strings) follows, or None.

    One prefix for all (the part before the trailing digits), and either no leading zero
    (``width = 0``) or one number of digits for all (``width``).
    """
    if pa.types.is_dictionary(ids.type):
        ids = ids.dictionary_decode()
    ids = ids.drop_null()
    if len(ids) == 0 or not (pa.types.is_string(ids.type) or pa.types.is_large_string(ids.type)):
        return None
    if not pc.all(pc.match_substring_regex(ids, _SPLIT)).as_py():
        return None  # an id without trailing digits (or empty)
    parts = pc.extract_regex(ids, _SPLIT)
    prefixes = pc.unique(pc.struct_field(parts, "prefix"))
    if len(prefixes) != 1:
        return None
    prefix = prefixes[0].as_py()
    digits = pc.struct_field(parts, "digits")
    lengths = pc.utf8_length(digits)
    low, high = pc.min_max(lengths).values()
    if high.as_py() > MAX_DIGITS:
        return None
    for pattern in (IdPattern(prefix, 0), IdPattern(prefix, low.as_py()) if low.as_py() == high.as_py() else None):
        if pattern is not None and pc.all(pattern.matches(ids)).as_py():
            return pattern
    return None
