#!/usr/bin/env python
"""Side-by-side benchmark: rank-citations against igraph (PRPACK), scipy and networkx, in one run.

Usage::

    python scripts/bench.py --graph hepth
    python scripts/bench.py --graph synthetic:2000000 --repeat 3 --seeds 64

Workloads (each a median over ``--repeat`` runs, peak RSS above the baseline alongside):

* ingest: parquet -> device tensors (ours) vs pandas read + numpy renumbering + scipy CSR;
  and igraph's graph construction from the renumbered edge array.
* global PageRank to an L1 change of 1e-10: ours (float64 and float32), a plain scipy power
  iteration, igraph PRPACK (exact), networkx (hep-th only). Accuracy: L1 error and top-1000
  order against PRPACK.
* personalized PageRank for ``--seeds`` single-paper seed sets: ours batched, per seed set,
  against igraph's one-seed-at-a-time call.
* the whole job (parquet in, ranked parquet out) against igraph's pipeline (read, renumber,
  build, solve, write).

Prints a markdown table with ratios (ours / peer); paste it into BENCHMARKS.md with the command.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

from ranker import parse_config, run_job  # noqa: E402
from ranker.graph import CitationGraph  # noqa: E402
from ranker.graph_build import graph_from_edges  # noqa: E402
from ranker.io import read_citations  # noqa: E402
from ranker.io.listing import citation_files  # noqa: E402
from ranker.solvers.choose import choose_method, solve  # noqa: E402
from ranker.solvers.dag import leveled  # noqa: E402
from ranker.solvers.power import tolerance_floor  # noqa: E402

PAGE = os.sysconf("SC_PAGE_SIZE")


def rss() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * PAGE


class Peak:
    """Samples RSS every 2 ms; ``.bytes`` is the peak above the level at entry."""

    def __enter__(self):
        self.base = rss()
        self.peak = self.base
        self._stop = False
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()
        return self

    def _run(self):
        while not self._stop:
            self.peak = max(self.peak, rss())
            time.sleep(0.002)

    def __exit__(self, *exc):
        self._stop = True
        self._t.join()
        self.peak = max(self.peak, rss())
        self.bytes = self.peak - self.base


def timed(fn, repeat):
    times, peaks, out = [], [], None
    for _ in range(repeat):
        with Peak() as p:
            t = time.perf_counter()
            out = fn()
            times.append(time.perf_counter() - t)
        peaks.append(p.bytes)
    return statistics.median(times), max(peaks), out


def first_solve(g, teleport, alpha, tol):
    """Plan and solve on a copy of ``g`` with nothing cached: the work of a job's first solve."""
    fresh = CitationGraph(n=g.n, crow=g.crow, col=g.col, weight=g.weight, out_weight=g.out_weight,
                          stats=dict(g.stats))
    return solve(fresh, teleport, method="dag", alpha=alpha, tol=tol)  # plans, permutes, solves, permutes back


def graph_bytes(g) -> int:
    """Bytes a solver keeps for ``g``: its tensors and cached transitions (``nbytes``), plus the
    DAG solver's cached core blocks and diagonal scales."""
    extra = 0
    for block in g.__dict__.get("_core_blocks", {}).values():
        extra += block.crow_indices().nbytes + block.col_indices().nbytes + block.values().nbytes
    for t in g.__dict__.get("_diag_scale", {}).values():
        extra += t.nbytes
    return g.nbytes() + extra


def scipy_power(a_t, n, alpha, tol, max_iter=1000):
    """Plain scipy power iteration with networkx/igraph semantics (dangling -> uniform)."""
    import scipy.sparse as sp  # noqa: F401

    out = np.asarray(a_t.sum(0)).ravel()
    inv = np.divide(1.0, out, out=np.zeros(n), where=out > 0)
    dangling = out == 0
    x = np.full(n, 1.0 / n)
    for it in range(1, max_iter + 1):
        y = alpha * (a_t @ (x * inv)) + (alpha * x[dangling].sum() + 1 - alpha) / n
        if np.abs(y - x).sum() < tol:
            return y, it
        x = y
    return x, max_iter


def dataset(spec: str, cache: Path) -> tuple[str, str, str]:
    """(citations path, papers path or "", label) for ``hepth`` or ``synthetic:N[:refs][:regime]``
    (regime one of :data:`ranker.synthetic.REGIMES`: ``spread``, the default, ``cycles``, ``giant``)."""
    if spec == "hepth":
        from shared_data import hepth_or_exit

        d = hepth_or_exit()
        return str(d / "citations.parquet"), str(d / "papers.parquet"), "hep-th"
    from ranker.synthetic import REGIMES, SyntheticSpec, generate

    _, n, *rest = spec.split(":")
    regime = rest.pop() if rest and rest[-1] in REGIMES else "spread"
    refs = float(rest[0]) if rest else 12.0
    d = cache / f"synthetic-{n}-{refs:g}" if regime == "spread" else cache / f"synthetic-{n}-{refs:g}-{regime}"
    m = generate(d, SyntheticSpec(papers=int(n), mean_references=refs, seed=0, id_kind="integer", **REGIMES[regime]))
    label = f"synthetic {int(n):,} papers / {m['citations']:,} citations, regime '{regime}'"
    return str(d / "citations"), str(d / "papers.parquet"), label


def pandas_ingest(files: list[str], papers: str) -> tuple:
    """What an analyst does instead: pandas reads, numpy numbers the ids, scipy builds the CSR."""
    import pandas as pd
    import scipy.sparse as sp

    df = pd.concat([pd.read_parquet(f) for f in files])
    ids_all = pd.read_parquet(papers)["paper_id"].to_numpy() if papers else np.empty(0)
    uniq, inv = np.unique(np.concatenate([ids_all, df["citing"].to_numpy(), df["cited"].to_numpy()]),
                          return_inverse=True)
    k = len(ids_all)
    m = len(df)
    src, dst = inv[k:k + m], inv[k + m:]
    a = sp.csr_matrix((np.ones(m), (dst, src)), shape=(len(uniq), len(uniq)))
    a.data[:] = 1.0  # duplicates once
    return a, src, dst, len(uniq)



def bench_ingest(b: SimpleNamespace) -> Any:
    """Ours (parquet to CSR, then the topological order) against pandas + scipy and igraph."""
    import igraph

    files, papers, R, add = b.files, b.papers, b.R, b.add
    def ours_ingest():
        e = read_citations(files, papers=papers)
        ids = e.ids
        return graph_from_edges(e), ids

    sec, peak, (g, ids) = timed(ours_ingest, R)
    g.transition(torch.float64)
    final = g.nbytes()
    add("ingest", "ours (parquet->CSR)", sec, peak,
        f"peak {peak / g.nnz:.1f} B/citation; final CSR incl. float64 values {final / g.nnz:.1f} B/citation")
    sec_o, peak_o, (lg, plan) = timed(lambda: leveled(g), 1)
    add("ingest", "ours: topological order", sec_o, peak_o,
        f"{plan.levels} levels, {plan.facts['papers_on_cycles']} papers on cycles in {plan.facts['components']} "
        f"components (largest {plan.facts['largest_component']}); one-time, reused by every solve; "
        f"method auto chooses {choose_method(lg)}")
    sec_with_order = sec + sec_o

    sec_p, peak_p, (a_t, src, dst, n) = timed(lambda: pandas_ingest(files, papers), R)
    add("ingest", "pandas+numpy+scipy CSR", sec_p, peak_p,
        f"ratio ours/peer {sec / sec_p:.2f} (with the topological order {sec_with_order / sec_p:.2f})")
    edges = np.stack([src, dst], 1)
    sec_ig, peak_ig, ig = timed(lambda: igraph.Graph(n=n, edges=edges, directed=True), 1)
    add("ingest", "igraph.Graph(edges)", sec_ig, peak_ig, f"ratio ours/peer {sec / sec_ig:.2f}")
    ig.simplify(multiple=True, loops=False)
    return g, ids, lg, plan, sec, n, edges, a_t, ig


def bench_global(b: SimpleNamespace, g: Any, ids: Any, lg: Any, plan: Any, n: int, edges: Any, a_t: Any,
                 ig: Any) -> Any:
    """Global PageRank: ours (DAG sweep and power method, float64 and float32) against PRPACK, scipy, networkx."""
    alpha, tol, R, add, args = b.alpha, b.tol, b.R, b.add, b.args
    sec_pr, _, ref = timed(lambda: np.array(ig.pagerank(damping=alpha, implementation="prpack")), R)
    add("pagerank", "igraph PRPACK", sec_pr, 0, "exact reference")
    ref_by_id = ref  # igraph order = pandas (sorted id) order; map ours to it
    order = np.argsort(ids.ids.to_numpy(zero_copy_only=False) if ids.kind == "integer"
                       else np.array(ids.ids.to_pylist(), dtype=object), kind="stable")

    def accuracy(scores):
        s = scores[order]
        l1 = float(np.abs(s - ref_by_id).sum())
        top_ref = np.argsort(-ref_by_id, kind="stable")[:1000]
        top = np.argsort(-s, kind="stable")[:1000]
        return f"L1 err {l1:.1e}, top-1000 order {'same' if np.array_equal(top, top_ref) else 'differs'}"

    inv = plan.position  # ingest index -> leveled index
    for method in ("dag", "power"):
        if method == "power":
            held = graph_bytes(lg)  # after the DAG solves, before the power method stores values
            add("memory", "ours: graph held by the DAG solver", 0.0, 0,
                f"{held / g.nnz:.1f} B/citation ({held / 2**20:.0f} MiB: int32 structure, row pointers, out-weights, "
                f"core block, diagonal scale; float64 and float32 solves done)")
        for dt in (torch.float64, torch.float32):
            if method == "power":
                lg.transition(dt)
            u = torch.full((g.n, 1), 1.0 / g.n, dtype=dt)
            tol_dt = max(tol, tolerance_floor(dt, g.n))  # float32 cannot reach 1e-10: the job refuses such a tol
            sec_o, peak_o, res = timed(lambda u=u, method=method, t=tol_dt: solve(lg, u, method=method, alpha=alpha,
                                                                                tol=t), R)
            sc = res.scores[:, 0].double()[inv].numpy()  # back to ingest order
            add("pagerank", f"ours {method} {str(dt)[6:]} ({int(res.iterations[0])} it)", sec_o, peak_o,
                f"ratio vs PRPACK {sec_o / sec_pr:.2f}; {accuracy(sc)}")
            if method == "dag" and dt == torch.float64:
                # what a job pays for its first solve: the plan, the arrays the sweep reads, the sweep
                sec_ps, peak_ps, _ = timed(lambda u=u: first_solve(g, u, alpha, tol), R)
                add("pagerank", "ours plan + first dag float64", sec_ps, peak_ps,
                    f"ratio vs PRPACK {sec_ps / sec_pr:.2f} (a fresh graph each time: plan, solver arrays, sweep)")
    a_t.sum_duplicates()
    a_t.data[:] = 1.0
    sec_s, peak_s, (xs, its) = timed(lambda: scipy_power(a_t, n, alpha, tol), R)
    add("pagerank", f"scipy power iteration ({its} it)", sec_s, peak_s, accuracy_sorted(xs, ref_by_id))
    if not args.skip_networkx and n < 100_000:
        import networkx as nx

        G = nx.DiGraph()
        G.add_nodes_from(range(n))
        G.add_edges_from(edges.tolist())
        sec_nx, peak_nx, _ = timed(lambda: nx.pagerank(G, alpha=alpha, tol=tol / n, max_iter=1000), 1)
        add("pagerank", "networkx (tol 1e-10 L1)", sec_nx, peak_nx, "")
    return order, inv


def bench_personalized(b: SimpleNamespace, g: Any, lg: Any, n: int, inv: Any, order: Any, ig: Any) -> Any:
    """Personalized PageRank: ours batched, per seed set, against igraph's PRPACK one seed at a time."""
    alpha, tol, R, add, args = b.alpha, b.tol, b.R, b.add, b.args
    rng = np.random.default_rng(0)
    seeds = rng.choice(np.arange(n // 2, n), size=args.seeds, replace=False)  # recent papers (ours' index)
    v = torch.zeros((g.n, args.seeds), dtype=torch.float64)
    v[inv[torch.from_numpy(seeds)], torch.arange(args.seeds)] = 1.0  # in the leveled numbering
    # as the job solves seed sets: each column bit-identical whatever its batch (padded to LANES columns)
    sec_b, peak_b, res = timed(lambda: solve(lg, v, alpha=alpha, tol=tol, batch_invariant=True), R)
    per_ours = sec_b / args.seeds
    k = min(8, args.seeds)
    ig_ids = order.argsort()  # our index -> igraph index
    sec_i, _, _ = timed(lambda: [ig.personalized_pagerank(damping=alpha, reset_vertices=[int(ig_ids[s])],
                                                          implementation="prpack") for s in seeds[:k]], 1)
    per_ig = sec_i / k
    its = res.iterations
    add(f"ppr x{args.seeds}", "ours batched, per seed set", per_ours, peak_b,
        f"ratio vs igraph per seed {per_ours / per_ig:.3f}; iterations per column: median {int(its.median())}, "
        f"max {int(its.max())}, {int((its == 0).sum())} of {its.numel()} exact (no iteration)")
    add(f"ppr x{args.seeds}", "igraph per seed set", per_ig, 0, f"mean of {k} calls")



def bench_job(b: SimpleNamespace) -> Any:
    """The whole job against igraph's pipeline (read, number, rank, write)."""
    import igraph

    files, papers, cit, alpha, tol, R, add = b.files, b.papers, b.cit, b.alpha, b.tol, b.R, b.add
    with tempfile.TemporaryDirectory() as out:
        cfg = parse_config({"input": {"citations": cit, "papers": papers}, "rank": {"tol": tol, "device": "cpu"},
                            "output": {"dir": out}})
        sec_j, peak_j, _ = timed(lambda: run_job(cfg, show_progress=False), R)
        add("whole job", "ours (parquet -> ranked parquet + report.html)", sec_j, peak_j, "")
        bare = parse_config({"input": {"citations": cit, "papers": papers}, "rank": {"tol": tol, "device": "cpu"},
                             "output": {"dir": str(Path(out) / "bare"), "report": False}})
        sec_b, peak_b, _ = timed(lambda: run_job(bare, show_progress=False), R)
        add("whole job", "ours, [output] report = false", sec_b, peak_b, "the parquet files and run.json only")

        def igraph_job():
            a, s_, d_, n_ = pandas_ingest(files, papers)
            gg = igraph.Graph(n=n_, edges=np.stack([s_, d_], 1), directed=True)
            gg.simplify(multiple=True, loops=False)
            pr = np.array(gg.pagerank(damping=alpha, implementation="prpack"))
            o = np.argsort(-pr, kind="stable")
            pq.write_table(pa.table({"index": o, "score": pr[o], "rank": np.arange(1, n_ + 1)}),
                           Path(out) / "igraph.parquet")

        sec_ij, peak_ij, _ = timed(igraph_job, 1)
        add("whole job", "igraph pipeline", sec_ij, peak_ij,
            f"ratio ours/peer {sec_j / sec_ij:.2f} (without the report {sec_b / sec_ij:.2f})")



def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--graph", default="hepth")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--seeds", type=int, default=64)
    ap.add_argument("--tol", type=float, default=1e-10)
    ap.add_argument("--cache", default=str(Path(tempfile.gettempdir()) / "rank-citations-bench"))
    ap.add_argument("--skip-networkx", action="store_true")
    args = ap.parse_args()
    cit, papers, label = dataset(args.graph, Path(args.cache))
    files = citation_files(cit)
    alpha, tol, R = 0.85, args.tol, args.repeat
    rows: list[tuple[str, str, float, int, str]] = []

    def add(workload, who, sec, peak, note=""):
        rows.append((workload, who, sec, peak, note))
        print(f"  {workload:<22} {who:<28} {sec:9.3f} s  peak {peak / 2**20:8.1f} MiB  {note}", file=sys.stderr)

    print(f"# {label}: torch {torch.__version__}, {torch.get_num_threads()} threads, {platform.processor()}",
          file=sys.stderr)

    # ---------------------------------------------------------------- compiled kernels: loaded once per process
    def warm():  # a graph this small would run the references (ranker.kernels.compiled_pays): ask for the kernels
        from ranker import build_graph
        from ranker.solvers.dag import dag_pagerank

        small = build_graph(torch.tensor([1, 2, 0, 2]), torch.tensor([0, 0, 1, 1]), 3)
        for dtype in (torch.float64, torch.float32):
            dag_pagerank(small, torch.full((3, 1), 1 / 3, dtype=dtype), kernel="compiled")
            dag_pagerank(small, torch.full((3, 2), 1 / 3, dtype=dtype), kernel="compiled")

    sec_w, _, _ = timed(warm, 1)
    add("start-up", "ours: load compiled kernels", sec_w, 0,
        "once per process (numba's cache; compiled once per machine)")

    b = SimpleNamespace(files=files, papers=papers, cit=cit, alpha=alpha, tol=tol, R=R, add=add, args=args)
    g, ids, lg, plan, sec, n, edges, a_t, ig = bench_ingest(b)
    order, inv = bench_global(b, g, ids, lg, plan, n, edges, a_t, ig)
    bench_personalized(b, g, lg, n, inv, order, ig)
    bench_job(b)

    print(f"\n### {label}\n")
    print("| workload | who | median s | peak RSS MiB | notes |\n|---|---|---:|---:|---|")
    for w, who, s, p, note in rows:
        print(f"| {w} | {who} | {s:.3f} | {p / 2**20:.0f} | {note} |")



def accuracy_sorted(x, ref):
    l1 = float(np.abs(x - ref).sum())
    same = np.array_equal(np.argsort(-x, kind="stable")[:1000], np.argsort(-ref, kind="stable")[:1000])
    return f"L1 err {l1:.1e}, top-1000 order {'same' if same else 'differs'}"


if __name__ == "__main__":
    main()
