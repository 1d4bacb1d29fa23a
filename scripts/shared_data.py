"""Where the scripts find the shared real data, and what a newcomer without it is told (one line)."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: The default place of the arXiv hep-th data: ``../shared/data/hepth`` beside the repository.
HEPTH = ROOT.parent / "shared" / "data" / "hepth"
#: What the data is and where to get it, for messages.
HEPTH_SOURCE = ("the arXiv hep-th citation graph of the KDD Cup 2003 (the same graph as SNAP cit-HepTh, "
                "https://snap.stanford.edu/data/cit-HepTh.html) with the cup's abstract files for authors, dates "
                "and titles (https://www.cs.cornell.edu/projects/kddcup/datasets.html), as citations.parquet, "
                "papers.parquet and authorships.parquet (columns in ../shared/data/README.md)")


def hepth_or_exit(folder: str | Path = HEPTH) -> Path:
    """``folder`` when it holds the hep-th parquet files; else exit 2 with one line saying where to get them."""
    folder = Path(folder)
    missing = [name for name in ("citations.parquet", "papers.parquet") if not (folder / name).is_file()]
    if missing:
        print(f"error: no hep-th data at {folder} ({', '.join(missing)} missing): it is {HEPTH_SOURCE}; put it "
              "there or pass --data DIR", file=sys.stderr)
        sys.exit(2)
    return folder
