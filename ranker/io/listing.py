"""Which files are the citations: ``[input] citations`` (a file, a folder or a glob) as a sorted list."""

from __future__ import annotations

import glob
import logging
from pathlib import Path

from ..errors import ConfigError

log = logging.getLogger("ranker")


#: Names of citation data files in a citations folder (any of them gzipped: ``.csv.gz``; a bare
#: ``.gz`` is an OpenAlex snapshot part, ``part_000.gz``).
DATA_SUFFIXES = (".parquet", ".parq", ".pq", ".csv", ".tsv", ".tab", ".jsonl", ".ndjson", ".json")


def _is_data_file(name: str) -> bool:
    name = name.lower()
    if name.endswith(".gz"):
        stem = name[:-3]
        return stem.endswith(DATA_SUFFIXES) or "." not in stem
    return name.endswith(DATA_SUFFIXES)


def citation_files(spec: str) -> list[str]:
    """Expand ``[input] citations`` (a file, a directory or a glob) into a sorted file list.

    Sorting makes the result independent of the file system's listing order.

    Raises
    ------
    ConfigError
        When the path does not exist or the glob/directory holds no parquet file.
    """
    p = Path(spec)
    if p.is_dir():
        found = sorted(f for f in p.rglob("*") if f.is_file()
                       and not any(part.startswith((".", "_")) for part in f.relative_to(p).parts))
        files = [str(f) for f in found if _is_data_file(f.name)]
        skipped = [f.name for f in found if not _is_data_file(f.name)]
        if skipped:
            log.warning(
                "[input] citations: %d file(s) in %s are not citation data and were skipped: %s%s", len(skipped),
                spec, ", ".join(skipped[:5]), ", ..." if len(skipped) > 5 else "")
        if not files:
            raise ConfigError(f"[input] citations: directory {spec} holds no citation file (.parquet, .csv, "
                              ".tsv, .jsonl, gzipped or not)")
        return files
    if p.is_file():
        return [str(p)]
    if glob.has_magic(spec):
        files = sorted(f for f in glob.glob(spec, recursive=True) if Path(f).is_file())
        if not files:
            raise ConfigError(f"[input] citations: the glob {spec} matches no file")
        return files
    raise ConfigError(f"[input] citations: no such file or directory {spec}")
