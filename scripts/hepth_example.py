#!/usr/bin/env python
"""Worked example: what each ranking brings out on the arXiv hep-th graph.

    python scripts/hepth_example.py [--data ../shared/data/hepth] [--top 5]

Runs pagerank, citerank, articlerank and rescaled_pagerank (and harmonic author credit) on
the same data and prints each ranking's top papers with their year, and the mean year of its
top 100, as markdown.
"""

import argparse
import tempfile
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from ranker import parse_config, run_job
from shared_data import HEPTH, hepth_or_exit

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(HEPTH))
    ap.add_argument("--top", type=int, default=5)
    a = ap.parse_args()
    d = hepth_or_exit(a.data)
    meta = pq.read_table(d / "papers.parquet", columns=["paper_id", "year", "title"]).to_pylist()
    info = {r["paper_id"]: r for r in meta}
    runs = [("pagerank", {}), ("pagerank", {"alpha": 0.5}), ("citerank", {"tau": 2.6}), ("articlerank", {}),
            ("rescaled_pagerank", {"window": 1000})]
    with tempfile.TemporaryDirectory() as tmp:
        for algo, extra in runs:
            out = Path(tmp) / f"{algo}-{len(extra)}"
            inputs = {"citations": str(d / "citations.parquet"), "papers": str(d / "papers.parquet"),
                      "authorships": str(d / "authorships.parquet")}
            cfg = parse_config({"input": inputs,
                                "rank": {"algorithm": algo, "device": "cpu", **extra},
                                "authors": {"counting": "harmonic"}, "output": {"dir": str(out)}})
            run_job(cfg, show_progress=False)
            ids = pq.read_table(out / "papers.parquet").column("paper_id").to_pylist()
            years = [info[i]["year"] for i in ids[:100]]
            label = algo + "".join(f", {k} = {v}" for k, v in extra.items())
            print(f"\n**{label}** (mean year of the top 100: {np.mean(years):.1f})\n")
            for r, i in enumerate(ids[:a.top], 1):
                title = " ".join((info[i]["title"] or "").split())[:70]
                print(f"{r}. {i} ({info[i]['year']}) {title}")
        print("\n**Authors**\n")
        for algo, extra in [("paper_scores", {"counting": "harmonic"}), ("paper_scores", {"counting": "full"}),
                            ("author_pagerank", {"counting": "fractional"}), ("coauthor_pagerank", {}),
                            ("coranking", {"jump": 0.2})]:
            out = Path(tmp) / f"authors-{algo}-{len(extra)}"
            inputs = {"citations": str(d / "citations.parquet"), "papers": str(d / "papers.parquet"),
                      "authorships": str(d / "authorships.parquet")}
            cfg = parse_config({"input": inputs,
                                "rank": {"device": "cpu"}, "authors": {"algorithm": algo, **extra},
                                "output": {"dir": str(out)}})
            run_job(cfg, show_progress=False)
            auth = pq.read_table(out / "authors.parquet").slice(0, a.top).to_pylist()
            label = algo + "".join(f", {k} = {v}" for k, v in extra.items())
            print(f"- {label}: " + ", ".join(f"{x['author']} ({x['share']:.4f})" for x in auth))


if __name__ == "__main__":
    main()
