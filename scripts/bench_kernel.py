#!/usr/bin/env python
"""Per-step memory bandwidth of the batched PageRank step: torch CSR product vs the fused Triton kernel.

    python scripts/bench_kernel.py --papers 2000000 --refs 12 --cols 1 8 64 [--dtype float32]

Builds a random citation-like graph on the device (CUDA when available), times one step of
each kernel (median of --repeat after a warm-up) and prints effective GB/s and citations/s.
Bytes counted per step: each citation reads its index (and its value unless structure-only)
and gathers B scores; each paper reads its row pointer, its score and teleport rows and writes
its new row. The Triton kernel runs only on CUDA (its CPU interpreter is for tests, not speed).
"""

import argparse
import statistics
import time

import numpy as np
import torch

from ranker import build_graph
from ranker.kernels import pagerank_step


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--papers", type=int, default=1_000_000)
    ap.add_argument("--refs", type=float, default=12.0)
    ap.add_argument("--cols", type=int, nargs="+", default=[1, 8, 64])
    ap.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    ap.add_argument("--repeat", type=int, default=5)
    a = ap.parse_args()
    dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dtype = getattr(torch, a.dtype)
    n = a.papers
    e = int(n * a.refs)
    rng = np.random.default_rng(0)
    citing = rng.integers(0, n, e)
    cited = (citing * rng.random(e)).astype(np.int64)  # cite older (lower index) papers
    g = build_graph(citing, cited, n, device=dev)
    t = g.transition(dtype)
    inv = torch.where(g.out_weight > 0, 1.0 / g.out_weight, torch.zeros_like(g.out_weight)).to(dtype)
    ib, db = g.col.element_size(), torch.finfo(dtype).bits // 8
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu"
    print(f"# {name}: {n:,} papers, {g.nnz:,} citations, {a.dtype}, index {g.col.dtype}")
    print("| kernel | B | ms/step | GB/s | Gcitations/s |\n|---|---:|---:|---:|---:|")
    kernels = [("torch CSR (values)", lambda x, v: pagerank_step(t, x, v, g.dangling, 0.85), True)]
    if dev.type == "cuda":
        from ranker.kernels.triton_step import pagerank_step_triton

        kernels += [
            ("triton fused (values)",
             lambda x, v: pagerank_step_triton(g.crow, g.col, t.values(), None, x, v, g.dangling, 0.85), True),
            ("triton fused (structure-only)",
             lambda x, v: pagerank_step_triton(g.crow, g.col, None, inv, x, v, g.dangling, 0.85), False),
        ]
    for b in a.cols:
        x = torch.full((n, b), 1.0 / n, dtype=dtype, device=dev)
        v = x.clone()
        for label, fn, has_values in kernels:
            fn(x, v)
            times = []
            for _ in range(a.repeat):
                if dev.type == "cuda":
                    torch.cuda.synchronize()
                s = time.perf_counter()
                fn(x, v)
                if dev.type == "cuda":
                    torch.cuda.synchronize()
                times.append(time.perf_counter() - s)
            sec = statistics.median(times)
            nbytes = g.nnz * (ib + (db if has_values else 0) + b * db) + n * (ib + 3 * b * db)
            print(f"| {label} | {b} | {sec * 1e3:.2f} | {nbytes / sec / 1e9:.1f} | {g.nnz / sec / 1e9:.2f} |")


if __name__ == "__main__":
    main()
