#!/usr/bin/env python
"""Rankings through time side by side with igraph, each as a whole process from a cold start.

Usage::

    python scripts/bench_trajectories.py --papers 2000000 --snapshots 11

A generated graph (``ranker.synthetic``, integer ids, papers over ``--first-year``..``--last-year``
in the regime ``--regime``: cycles spread over time by default) is ranked

- by ``rank-citations`` with ``[trajectories]`` over ``--snapshots`` years evenly spaced up to the
  last (top 100 papers per year), with every year, and without trajectories (one global solve);
- by a cold igraph script doing what an analyst does without this tool: read the parquet, number
  the ids, build the graph once, and for each of the same years take the induced subgraph of
  the papers up to that year (``Graph.induced_subgraph``, C) and run PRPACK on it.

Each process runs under ``/usr/bin/time -v`` (wall time, peak RSS). Printed: each whole process,
our ``trajectories`` stage against igraph's per-year work (induced subgraphs + PRPACK), the
whole processes against each other, all years against one global solve, and the largest
difference between our scores and igraph's over the listed papers of every year.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import textwrap
from pathlib import Path

from process_timing import time_process

IGRAPH_SCRIPT = textwrap.dedent('''
    import json, sys, time
    t0 = time.perf_counter()
    import igraph, numpy as np, pyarrow.dataset as ds, pyarrow.parquet as pq
    data, caps, out = sys.argv[1], [int(y) for y in sys.argv[2].split(",")], sys.argv[3]
    c = ds.dataset(data + "/citations").to_table()
    p = pq.read_table(data + "/papers.parquet", columns=["paper_id", "year"])
    ids = p.column("paper_id").to_numpy()
    year = p.column("year").to_numpy().astype(np.int64)
    order = np.argsort(ids)
    citing = order[np.searchsorted(ids, c.column("citing").to_numpy(), sorter=order)]
    cited = order[np.searchsorted(ids, c.column("cited").to_numpy(), sorter=order)]
    t1 = time.perf_counter()
    g = igraph.Graph(n=ids.size, edges=np.stack([citing, cited], 1), directed=True)
    g.simplify(multiple=True, loops=False)
    t2 = time.perf_counter()
    induced = prpack = 0.0
    scores = {}
    for cap in caps:
        a = time.perf_counter()
        alive = np.flatnonzero(year <= cap)
        sub = g.induced_subgraph(alive.tolist())  # igraph picks copy_and_delete or create_from_scratch
        b = time.perf_counter()
        pr = np.array(sub.pagerank(damping=0.85, directed=True, implementation="prpack"))
        prpack += time.perf_counter() - b
        induced += b - a
        scores[cap] = (alive, pr)
    t3 = time.perf_counter()
    np.savez(out, **{f"ids_{c}": ids[a] for c, (a, _) in scores.items()},
             **{f"pr_{c}": s for c, (_, s) in scores.items()})
    print(json.dumps({"read": t1 - t0, "build": t2 - t1, "induced": induced, "prpack": prpack, "per_year": t3 - t2,
                      "total": time.perf_counter() - t0}))
''')


def timed(cmd: list[str]) -> tuple[str, float, int]:
    """Stdout, wall seconds and peak RSS bytes of a whole process."""
    run = time_process(cmd)
    return run.stdout, run.seconds, run.rss


def job(path: Path, data: Path, out: Path, years: str | None) -> Path:
    text = (f'[input]\ncitations = "{data / "citations"}"\npapers = "{data / "papers.parquet"}"\n'
            f'[rank]\ndevice = "cpu"\n[output]\ndir = "{out}"\nreport = false\n')
    if years is not None:
        text += f"[trajectories]\nyears = {years}\ntop_k = 100\n"
    path.write_text(text)
    return path


def largest_difference(ours: str, npz: Path, caps: list[int]) -> float:
    """The largest |ours - igraph| over the papers ours lists for each year."""
    import numpy as np
    import pyarrow.parquet as pq

    t = pq.read_table(ours).to_pandas()
    got = np.load(npz)
    worst = 0.0
    for c in caps:
        ref = dict(zip(got[f"ids_{c}"].tolist(), got[f"pr_{c}"].tolist()))
        rows_c = t[t["year"] == c]
        worst = max(worst, max(abs(s - ref[p]) for p, s in zip(rows_c["paper_id"], rows_c["score"])))
    return worst


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--papers", type=int, default=2_000_000)
    ap.add_argument("--refs", type=float, default=12.0)
    ap.add_argument("--regime", default="cycles30")
    ap.add_argument("--first-year", type=int, default=1968)
    ap.add_argument("--last-year", type=int, default=2023)
    ap.add_argument("--snapshots", type=int, default=11)
    ap.add_argument("--cache", default=str(Path(tempfile.gettempdir()) / "rank-citations-bench"))
    args = ap.parse_args()
    from ranker.synthetic import REGIMES, SyntheticSpec, generate

    cache = Path(args.cache)
    data = cache / f"traj-{args.papers}-{args.refs:g}-{args.regime}-{args.first_year}-{args.last_year}"
    m = generate(data, SyntheticSpec(papers=args.papers, mean_references=args.refs, seed=0, id_kind="integer",
                                     first_year=args.first_year, last_year=args.last_year, **REGIMES[args.regime]))
    span = args.last_year - args.first_year + 1
    caps = [args.last_year - round(i * (span - 1) / (args.snapshots - 1)) for i in range(args.snapshots)][::-1] \
        if args.snapshots > 1 else [args.last_year]
    print(f"# {m['papers']:,} papers, {m['citations']:,} citations, years {args.first_year}..{args.last_year} "
          f"(regime {args.regime}); snapshots {caps}", flush=True)
    work = Path(tempfile.mkdtemp(prefix="bench-traj-"))
    cli = [sys.executable, "-m", "ranker.cli", "--config"]
    rows = {}
    for name, years in (("global only", None), (f"{len(caps)} years", str(caps)), (f"all {span} years", '"all"')):
        out = work / name.replace(" ", "-")
        _, wall, rss = timed(cli + [str(job(work / f"{out.name}.toml", data, out, years))])
        meta = json.loads((out / "run.json").read_text())
        rows[name] = (wall, rss, meta)
        stage = meta["seconds"].get("trajectories")
        print(f"  ours, {name:<14} whole process {wall:7.2f} s, peak {rss / 2**30:5.2f} GiB; pagerank stage "
              f"{meta['seconds']['pagerank']:.2f} s" + (f", trajectories stage {stage:.2f} s" if stage else ""),
              flush=True)
    script = work / "igraph_years.py"
    script.write_text(IGRAPH_SCRIPT)
    npz = work / "igraph.npz"
    stdout, ig_wall, ig_rss = timed([sys.executable, str(script), str(data), ",".join(map(str, caps)), str(npz)])
    ig = json.loads(stdout.strip().splitlines()[-1])
    print(f"  igraph, {len(caps)} years   whole process {ig_wall:7.2f} s, peak {ig_rss / 2**30:5.2f} GiB; read+number "
          f"{ig['read']:.2f} s, build once {ig['build']:.2f} s, induced subgraphs {ig['induced']:.2f} s, PRPACK "
          f"{ig['prpack']:.2f} s", flush=True)
    worst = largest_difference(rows[f"{len(caps)} years"][2]["outputs"]["trajectories"], npz, caps)
    wall11, _, meta11 = rows[f"{len(caps)} years"]
    stage11 = meta11["seconds"]["trajectories"]
    per_year = ig["induced"] + ig["prpack"]
    wall_all, _, meta_all = rows[f"all {span} years"]
    print(f"\n{len(caps)} years, trajectories stage / igraph induced subgraphs + PRPACK: {stage11:.2f} / "
          f"{per_year:.2f} = {stage11 / per_year:.3f}x")
    print(f"{len(caps)} years, whole process / igraph whole process: {wall11:.2f} / {ig_wall:.2f} = "
          f"{wall11 / ig_wall:.3f}x")
    print(f"all {span} years, trajectories stage / one global solve (pagerank stage): "
          f"{meta_all['seconds']['trajectories']:.2f} / {meta_all['seconds']['pagerank']:.2f} = "
          f"{meta_all['seconds']['trajectories'] / meta_all['seconds']['pagerank']:.1f}x; whole process "
          f"{wall_all:.2f} s against {rows['global only'][0]:.2f} s")
    print(f"largest |ours - igraph| over the listed papers of every year: {worst:.2e}")


if __name__ == "__main__":
    main()
