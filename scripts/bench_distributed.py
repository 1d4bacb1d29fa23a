#!/usr/bin/env python
"""Distributed ranking measured: 1 process against W processes (gloo on the CPU, or NCCL on GPUs).

Usage::

    python scripts/bench_distributed.py --graph hepth --world-sizes 1,2
    python scripts/bench_distributed.py --graph synthetic:2000000 --world-sizes 1,2 --threads 1

Each world size runs the whole job (parquet in, ranked parquet out; global PageRank by the
power method to ``--tol``) on W local processes started as torchrun would, each with
``--threads`` threads. Reported per world size: stage times (ingest with the graph build,
solve), seconds per
iteration, bytes each rank sent per iteration (against the model ``(W-1)/W * n_pad * 8``),
peak RSS of the largest rank, and the share of all papers whose scores a rank's block reads
(``columns needed``): near 1 means exchanging only boundary entries would save nothing over
the ``all_gather`` of every block.

Prints a markdown table; paste it into BENCHMARKS.md with the command.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import tempfile
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

from bench import dataset  # noqa: E402


def _rank_job(cfg: dict, threads: int) -> dict:
    torch.set_num_threads(threads)
    from ranker import parse_config, run_job

    result = run_job(parse_config(cfg), show_progress=False)
    g = result.graph
    out = {"meta": result.metadata, "peak_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}
    if hasattr(g, "bounds"):  # distributed: which papers' scores this block reads
        needed = torch.unique(g.col).numel()
        out.update(needed=needed / max(1, g.n), n_pad=g.n_pad, graph_bytes=g.nbytes(), block_citations=g.nnz)
    else:
        out.update(needed=1.0, n_pad=g.n, graph_bytes=g.nbytes(), block_citations=g.nnz)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--graph", default="hepth")
    ap.add_argument("--world-sizes", default="1,2")
    ap.add_argument("--threads", type=int, default=1, help="torch threads per process")
    ap.add_argument("--tol", type=float, default=1e-10)
    ap.add_argument("--cache", default=str(Path(tempfile.gettempdir()) / "rank-citations-bench"))
    args = ap.parse_args()
    citations, papers, label = dataset(args.graph, Path(args.cache))
    from ranker.parallel.spawn import run_once

    rows = []
    for w in [int(x) for x in args.world_sizes.split(",")]:
        out = tempfile.mkdtemp(prefix=f"bench-dist-{w}-")
        cfg = {"input": {"citations": citations}, "rank": {"method": "power", "tol": args.tol, "device": "cpu"},
               "output": {"dir": out, "report": False}}
        if w == 1:
            res = [("ok", _rank_job(cfg, args.threads))]
        else:
            res = run_once(w, _rank_job, cfg, args.threads, timeout=3600)
        for r, x in enumerate(res):
            if x is None or x[0] != "ok":
                raise SystemExit(f"world size {w}: rank {r} failed: {x}")
        info = [x[1] for x in res]
        meta = info[0]["meta"]
        sec = meta["seconds"]
        it = meta["global"]["iterations"]
        n = meta["papers"]
        sent = meta.get("distributed", {}).get("bytes_sent_per_iteration_rank0", 0.0)
        model = (w - 1) / w * info[0]["n_pad"] * 8 if w > 1 else 0.0
        ingest = sec["ingest"] + sec.get("build", 0.0)  # one process builds in a stage of its own
        rows.append((w, ingest, sec["pagerank"], sec["pagerank"] / it * 1e3, it, sent / 1e6, model / 1e6,
                     max(i["peak_rss"] for i in info) / 1e9, max(i["graph_bytes"] for i in info) / 1e9,
                     max(i["needed"] for i in info), sec["total"]))
        print(f"W={w}: done ({n:,} papers)", file=sys.stderr)
    print(f"\n{label}; {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"{args.threads} thread(s) per process, torch {torch.__version__}, tol {args.tol:g}\n")
    print("| processes | ingest + build s | solve s | ms / iteration | iterations | MB sent / iteration (rank 0) "
          "| model MB | peak RSS / rank GB | graph / rank GB | columns needed | whole job s |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r[0]} | {r[1]:.2f} | {r[2]:.2f} | {r[3]:.1f} | {r[4]} | {r[5]:.2f} | {r[6]:.2f} | {r[7]:.2f} "
              f"| {r[8]:.3f} | {r[9]:.0%} | {r[10]:.2f} |")
    print("\n" + json.dumps({"graph": label, "rows": rows}))


if __name__ == "__main__":
    main()
