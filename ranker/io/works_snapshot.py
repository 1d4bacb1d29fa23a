"""An OpenAlex works snapshot read for its citations alone, in one compiled pass over the text.

The general reader (:mod:`ranker.io.formats`) parses each gzipped JSON Lines part with pyarrow,
explodes ``referenced_works`` into a parquet copy, reads the copy back and only then parses the
URL ids into numbers: four passes over the data. When a job reads nothing but ``id`` and
``referenced_works`` of such parts (no weight, no papers file, one process), and the ids are one
prefix and digits, :func:`read_works` scans the decompressed text once
(:func:`ranker.kernels.works_scan.scan_works`): every record's id and cited ids straight to
``int64`` numbers, numbered by one hash table in file order (as the general reader numbers them),
the parts decompressed and scanned on every core. Anything off that shape (another field type, an
id off the pattern, malformed JSON) makes it give up, and the general reader reads the files and
names the problem: the two give the same graph (tested against each other).
"""

from __future__ import annotations

import gzip
import json
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any, BinaryIO

import numpy as np
import pyarrow as pa

from .id_numbering import numbering_facts
from .id_patterns import IdPattern, detect_pattern
from .ids import IdMap
from .text_batches import BLOCK_BYTES, MAX_JSON_DEPTH, LineTooLong, is_gzip, line_views

log = logging.getLogger("ranker")

#: One part's blocks: ``(citing, cited, cites_nothing)`` per block of whole lines, in order.
Blocks = list[tuple[np.ndarray, np.ndarray, np.ndarray]]


#: Bytes of JSON Lines text per citation, and gzip's ratio on such text, for :func:`likely_citations`:
#: a generated OpenAlex-shaped work is 4.6 KB of JSON with 20 references (230 B each) and
#: gzips 7.7 to 1 (measured on 5,000 works).
TEXT_BYTES_PER_CITATION = 256
GZIP_RATIO = 8


def likely_citations(files: list[str]) -> int:
    """About how many citations JSON Lines ``files`` hold, from their sizes on disk (an estimate:
    it only chooses between the scanner and the general reader, which give the same graph)."""
    total = 0
    for f in files:
        try:
            size = os.path.getsize(f)
        except OSError:
            continue  # the reader names the file
        total += size * (GZIP_RATIO if is_gzip(f) else 1)
    return total // TEXT_BYTES_PER_CITATION


def first_id(path: str, column: str) -> Any:
    """The ``column`` value of the first record of ``path`` (None when it cannot be read)."""
    try:
        opener = gzip.open if is_gzip(path) else open
        with opener(path, "rb") as fh:
            for line in fh:
                if line.strip():
                    record = json.loads(line)
                    return record.get(column) if isinstance(record, dict) else None
    except (OSError, ValueError, EOFError):
        return None
    return None


def decompressed(path: str) -> BinaryIO:
    """The text of one part: a gzipped part through python-isal's igzip (Intel's ISA-L inflate, 0.13-0.18 s
    for a 230 MB part here against 0.40-0.42 s for Arrow's zlib, measured; it releases the GIL, so the
    parts still decompress on every core), or Arrow's gzip stream when isal is not installed."""
    if is_gzip(path):
        try:
            from isal import igzip
        except ImportError:  # pragma: no cover - isal is a dependency; a platform without its wheel
            return pa.input_stream(path, compression="gzip")
        return igzip.open(path, "rb")
    return pa.input_stream(path)


def scan_part(path: str, id_key: str, list_key: str, prefix: str, block_size: int = BLOCK_BYTES) -> Blocks | None:
    """Every record of one part, block by block; None when the scanner gives up anywhere in it."""
    from ..kernels.works_scan import scan_works  # numba: loaded when a snapshot is read this way

    keys = (np.frombuffer(id_key.encode(), np.uint8), np.frombuffer(list_key.encode(), np.uint8),
            np.frombuffer(prefix.encode(), np.uint8))
    out: Blocks = []
    try:
        with decompressed(path) as stream:
            for chunk in line_views(stream, block_size):
                text = np.frombuffer(chunk, np.uint8)
                cap = text.size // (len(prefix) + 3) + 1  # every row holds an id string of at least that many bytes
                citing, cited, none = np.empty(cap, np.int64), np.empty(cap, np.int64), np.empty(cap, np.bool_)
                rows, bad = scan_works(text, *keys[:2], keys[2], MAX_JSON_DEPTH, citing, cited, none)
                if bad >= 0:
                    log.debug("%s: the works scanner stops near byte %d of a block; reading the general way", path,
                              bad)
                    return None
                out.append((citing[:rows].copy(), cited[:rows].copy(), none[:rows].copy()))
    except (OSError, EOFError, pa.ArrowException, LineTooLong):  # a truncated part, a huge line: the general
        return None  # reader names the problem
    return out


def read_works(files: list[str], citing_column: str, cited_column: str
               ) -> tuple[np.ndarray, IdMap, dict[str, Any], int] | None:
    """``(codes [E, 2] int32, ids, facts, records citing nothing)`` of the citations of ``files``, or
    None when the scanner cannot read them (the caller then reads them the general way)."""
    from ..kernels.numbering import HashNumbering

    sample = first_id(files[0], citing_column) if files else None
    pattern = detect_pattern(pa.array([sample])) if isinstance(sample, str) else None
    if pattern is None or pattern.width:  # one prefix, digits without leading zeros: the OpenAlex shape
        return None
    workers = max(1, min(len(files), os.cpu_count() or 1))
    numbering = HashNumbering()
    codes: list[np.ndarray] = []
    lonely = 0
    with ThreadPoolExecutor(workers) as pool:
        for blocks in pool.map(lambda f: scan_part(f, citing_column, cited_column, pattern.prefix), files):
            if blocks is None:
                return None
            for citing, cited, none in blocks:  # numbered as the general reader numbers a batch
                pair = np.empty((citing.size, 2), np.int32)
                numbering.number(citing, out=pair[:, 0])
                numbering.number(cited, out=pair[:, 1])
                lonely += int(none.sum())
                codes.append(pair[~none] if none.any() else pair)
    ids = IdMap(kind="string", n_known=0, pattern=IdPattern(pattern.prefix, 0),
                numbers=pa.array(numbering.ids.copy(), pa.int64()))
    facts = {**numbering_facts("hashed", ids.pattern), "reader": "works scanner (one pass over the text)"}
    out = np.concatenate(codes) if codes else np.empty((0, 2), np.int32)
    return np.ascontiguousarray(out), ids, facts, lonely
