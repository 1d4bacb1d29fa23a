"""Files in and out: the only layer that knows about paper ids, parquet and the output directory.

Everything downstream sees dense indices ``0..n-1``; :class:`IdMap` turns them back into the
ids of the input, with their parquet type kept (string ids stay strings, integer ids stay
integers).

Modules
-------
listing
    Which files ``[input] citations`` names (a file, a folder, a glob).
formats
    CSV, TSV and JSON Lines (gzipped or not) and list columns, read through parquet copies.
text_batches
    Record batches of a parquet, CSV, TSV or JSON Lines file (the JSON chunker, the depth check).
ids
    :class:`IdMap`, id kinds and their normalization.
sources
    Parquet files opened for a role, their columns checked, streamed in record batches.
citations
    Streaming ingest of the citations (and the papers file) into dense index pairs.
inputs
    Seed sets, publication dates, authorships and coauthorships, mapped to the graph's ids.
outputs
    Atomic writes, and :class:`StagedOutputs`: a job's files committed together or not at all.
output_dir
    The output directory: checked against the inputs, locked, swept of stale temp files.
checkpoints
    Finished personalized batches, bound to their job and verified before reuse.
"""

from .citations import EdgeList, read_citations, read_papers
from .ids import IdMap, id_kind
from .inputs import (
                     Authorships,
                     SeedSets,
                     has_dates,
                     read_authorships,
                     read_coauthorships,
                     read_paper_columns,
                     read_paper_days,
                     read_paper_facts,
                     read_paper_years,
                     read_seeds,
)
from .outputs import (
                     StagedOutputs,
                     WrittenTable,
                     file_sha256,
                     free_bytes,
                     remove_temp_files,
                     write_json_atomic,
                     write_parquet_atomic,
                     write_parquet_batches_atomic,
                     write_text_atomic,
)
from .sources import ParquetSource, open_parquet, read_columns

__all__ = ["Authorships", "EdgeList", "IdMap", "ParquetSource", "SeedSets", "StagedOutputs", "WrittenTable",
           "file_sha256", "free_bytes", "has_dates", "id_kind", "open_parquet", "read_authorships", "read_citations",
           "read_coauthorships", "read_columns", "read_paper_columns", "read_paper_days", "read_paper_facts",
           "read_paper_years", "read_papers", "read_seeds",
           "remove_temp_files", "write_json_atomic", "write_parquet_atomic", "write_parquet_batches_atomic",
           "write_text_atomic"]
