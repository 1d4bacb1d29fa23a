#!/usr/bin/env python
"""Batched personalized PageRank alone, side by side with igraph: the ``ppr x64`` row of
``scripts/bench.py`` without the rest of that run (on a 2M-paper graph the full bench takes 20
minutes; this row, 6).

Usage::

    python scripts/bench_ppr.py --graph synthetic:2000000:giant --seeds 64 --igraph-seeds 4

The same graph files, seed choice (``--seeds`` recent papers, numpy seed 0) and settings
(alpha 0.85, float64, tol 1e-10, ``method = "auto"``, batch-invariant columns) as the bench;
igraph's ``personalized_pagerank`` (PRPACK) runs on the first ``--igraph-seeds`` of them, and
each of those columns is compared with igraph's (L1). Prints the time per seed set of each and
the ratio, and the process's peak memory.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench import dataset  # noqa: E402
from ranker.graph_build import graph_from_edges  # noqa: E402
from ranker.io import read_citations  # noqa: E402
from ranker.io.listing import citation_files  # noqa: E402
from ranker.solvers.choose import choose_method, solve  # noqa: E402
from ranker.solvers.dag import leveled  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--graph", default="hepth")
    ap.add_argument("--seeds", type=int, default=64)
    ap.add_argument("--igraph-seeds", type=int, default=4)
    ap.add_argument("--cache", default=str(Path(tempfile.gettempdir()) / "rank-citations-bench"))
    args = ap.parse_args()
    import igraph

    cit, papers, label = dataset(args.graph, Path(args.cache))
    g = graph_from_edges(read_citations(citation_files(cit), papers=papers))
    lg, plan = leveled(g)
    n = g.n
    rows, cols = g.row_index().numpy(), g.col.numpy()
    ig = igraph.Graph(n=n, edges=np.stack([cols, rows], 1), directed=True)  # citing -> cited, ingest order
    ig.simplify(multiple=True, loops=False)
    del rows, cols
    seeds = np.random.default_rng(0).choice(np.arange(n // 2, n), size=args.seeds, replace=False)
    position = plan.position.numpy()
    v = torch.zeros((n, args.seeds), dtype=torch.float64)
    v[torch.from_numpy(position[seeds]), torch.arange(args.seeds)] = 1.0
    print(f"# {label}: {n:,} papers, {g.nnz:,} citations; method auto runs {choose_method(lg)}")
    t0 = time.perf_counter()
    res = solve(lg, v, alpha=0.85, tol=1e-10, batch_invariant=True)
    ours = (time.perf_counter() - t0) / args.seeds
    k = min(args.igraph_seeds, args.seeds)
    t0 = time.perf_counter()
    ref = [np.array(ig.personalized_pagerank(damping=0.85, reset_vertices=[int(s)], implementation="prpack"))
           for s in seeds[:k]]
    theirs = (time.perf_counter() - t0) / k
    l1 = [float(np.abs(res.scores[:, b].numpy()[position] - ref[b]).sum()) for b in range(k)]
    its = res.iterations.float()
    print(f"ours batched: {ours:.3f} s per seed set (iterations per column: median {int(its.median())}, "
          f"max {int(its.max())})")
    print(f"igraph: {theirs:.3f} s per seed set (mean of {k} calls)")
    print(f"ratio ours/igraph per seed {ours / theirs:.3f}; L1 against igraph {min(l1):.1e}-{max(l1):.1e}")
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GiB (igraph's graph included)")


if __name__ == "__main__":
    main()
