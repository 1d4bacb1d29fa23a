#!/usr/bin/env python
"""The small end as users run it: a whole ``rank-citations`` process on hep-th against a cold igraph script.

Usage::

    python scripts/bench_cold.py --repeat 5

Both sides start a fresh Python process each time (``/usr/bin/time -v``: wall time, peak RSS):

- ours: ``rank-citations --config JOB`` with hep-th's citations and papers files, global
  PageRank, float64, tol 1e-10, no report (papers.parquet and run.json out);
- igraph: a script that reads the same parquet files, numbers the ids
  (``pyarrow.compute.dictionary_encode``), builds the graph, runs PRPACK and writes a parquet of
  ids and scores.

- the floor: ``python -c "import torch"``, a process that only imports torch. No process that
  imports torch ends sooner, so its ratio to the igraph script bounds ours from below.

The three alternate in each round. Prints each run, the medians, the ratios (ours, the floor's,
and ours without the floor: everything but importing torch), and our stage times from run.json
(the rest of the process is start-up: imports and the compiled kernels' loading).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import textwrap
from pathlib import Path

from process_timing import time_process

sys.path.insert(0, str(Path(__file__).resolve().parent))
from shared_data import hepth_or_exit  # noqa: E402

IGRAPH_SCRIPT = textwrap.dedent('''
    import sys
    import igraph, numpy as np, pyarrow as pa, pyarrow.compute as pc, pyarrow.parquet as pq
    data, out = sys.argv[1], sys.argv[2]
    c = pq.read_table(data + "/citations.parquet", columns=["citing", "cited"])
    p = pq.read_table(data + "/papers.parquet", columns=["paper_id"])
    ids = pa.chunked_array(p.column("paper_id").chunks + c.column("citing").chunks + c.column("cited").chunks)
    codes = pc.dictionary_encode(ids).combine_chunks()
    k = codes.indices.to_numpy(zero_copy_only=False)
    n, m = len(codes.dictionary), c.num_rows
    start = p.num_rows
    g = igraph.Graph(n=n, edges=np.stack([k[start:start + m], k[start + m:]], 1), directed=True)
    g.simplify(multiple=True, loops=False)
    pr = g.pagerank(damping=0.85, directed=True, implementation="prpack")
    pq.write_table(pa.table({"paper_id": codes.dictionary, "score": pr}), out)
''')


def timed(cmd: list[str]) -> tuple[float, int]:
    """Wall seconds and peak RSS bytes of a whole process."""
    run = time_process(cmd)
    return run.seconds, run.rss


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    data = hepth_or_exit()
    work = Path(tempfile.mkdtemp(prefix="bench-cold-"))
    job = work / "job.toml"
    job.write_text(f'[input]\ncitations = "{data / "citations.parquet"}"\npapers = "{data / "papers.parquet"}"\n'
                   f'[rank]\ndevice = "cpu"\n[output]\ndir = "{work / "out"}"\nreport = false\n')
    script = work / "igraph_job.py"
    script.write_text(IGRAPH_SCRIPT)
    ours, theirs, floor = [], [], []
    timed([sys.executable, "-m", "ranker.cli", "--config", str(job), "--quiet"])  # the kernels compiled once
    for r in range(args.repeat):
        ours.append(timed([sys.executable, "-m", "ranker.cli", "--config", str(job), "--quiet"]))
        theirs.append(timed([sys.executable, str(script), str(data), str(work / "igraph.parquet")]))
        floor.append(timed([sys.executable, "-c", "import torch"]))
        print(f"  run {r + 1}: ours {ours[-1][0]:.2f} s ({ours[-1][1] / 2**20:.0f} MiB), igraph {theirs[-1][0]:.2f} s "
              f"({theirs[-1][1] / 2**20:.0f} MiB), import torch alone {floor[-1][0]:.2f} s", flush=True)
    a, b, c = (statistics.median(t for t, _ in runs) for runs in (ours, theirs, floor))
    stages = json.loads((work / "out" / "run.json").read_text())["seconds"]
    print(f"\nhep-th whole process, median of {args.repeat}: ours {a:.2f} s, igraph {b:.2f} s: {a / b:.2f}x")
    print(f"import torch alone {c:.2f} s: {c / b:.2f}x the igraph script (the floor for any process that imports "
          f"torch); ours without it {a - c:.2f} s: {(a - c) / b:.2f}x")
    print("our stages (last run): " + ", ".join(f"{k} {v:.2f} s" for k, v in stages.items()))


if __name__ == "__main__":
    main()
