#!/usr/bin/env python
"""Scale: whole ``rank-citations`` jobs as a user runs them, per stage, with integer and OpenAlex-style ids.

    python scripts/bench_scale.py --papers 2000000            # 24M citations
    python scripts/bench_scale.py --papers 2000000,20000000 --kinds integer,openalex   # 24M and 240M
    python scripts/bench_scale.py --jobs 2000000:integer,84000000:openalex   # 1B URL-id citations beside 24M

For each id kind (``integer``; ``openalex``: ``https://openalex.org/W2741809807``-style URLs in
no order, rows shuffled within files; ``openalex-text``: the same files with ``[input]
compact_ids = false``, the general string path), the generator writes the graph once
(``ranker.synthetic``, regime ``spread``, 12 references a paper, cached under ``--cache``),
then one cold process runs ``rank-citations --config job.toml`` (global PageRank, float64,
papers.parquet out, no report) under ``/usr/bin/time -v``. Printed per job: wall time and
peak RSS of the whole process, bytes and microseconds per citation, each stage's seconds and
peak memory (from the job's log: ``stage NAME: S s, peak memory G GB``), and what
``rank-citations estimate`` predicted beside the measured peak. The ratio column compares each
job's time per citation with the first job of the run (the smallest size's first kind), and each
peak with issue 21's budget of 16 bytes per citation + 64 bytes per paper.

``--seed-sets N`` adds ``[personalize]`` to every job: ``N`` single-paper seed sets (papers drawn
at random, the same draw for a size), top 100 each. Printed beside each job: the personalized
stage's seconds per seed set, and its ratio to the first job's (locality: a seed's walk reaches
its ancestors, not the graph, so the time per seed should stay near flat as the graph grows).
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def generate(cache: Path, papers: int, kind: str) -> Path:
    from ranker.synthetic import SyntheticSpec
    from ranker.synthetic import generate as write

    d = cache / f"scale-{papers}-{kind}"
    t = time.perf_counter()
    m = write(d, SyntheticSpec(papers=papers, mean_references=12.0, seed=0, id_kind=kind, seed_sets=0))
    print(f"# data {d}: {m['papers']:,} papers, {m['citations']:,} citations ({time.perf_counter() - t:.0f} s, "
          "reused if cached)", flush=True)
    return d


def job_file(d: Path, out: Path, compact: bool, seeds: Path | None = None) -> Path:
    p = out.with_suffix(".toml")
    body = (f'[input]\ncitations = "{d / "citations"}"\ncompact_ids = {str(compact).lower()}\n'
            f'[rank]\ndevice = "cpu"\ndtype = "float64"\n[output]\ndir = "{out}"\nreport = false\n')
    if seeds is not None:
        body += f'[personalize]\nseeds = "{seeds}"\ntop_k = 100\n'
    p.write_text(body)
    return p


def single_paper_sets(d: Path, n: int) -> Path:
    """``n`` seed sets of one paper each, drawn at random (seed 0) from the generated papers."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = d / f"single-seeds-{n}.parquet"
    if not path.exists():
        ids = pq.read_table(d / "papers.parquet", columns=["paper_id"]).column(0)
        pick = np.random.default_rng(0).choice(len(ids), size=n, replace=False)
        pq.write_table(pa.table({"seed_set": [f"s{i}" for i in range(n)], "paper_id": ids.take(pick)}), path)
    return path


def timed(cmd: list[str]) -> tuple[float, int, str]:
    """Wall seconds, peak RSS bytes and stderr of a whole process (``/usr/bin/time -v``)."""
    r = subprocess.run(["/usr/bin/time", "-v", *cmd], capture_output=True, text=True)
    if r.returncode != 0:
        tail = "\n".join(r.stderr.splitlines()[-25:])
        raise SystemExit(f"{' '.join(cmd)} failed ({r.returncode}):\n{tail}")
    wall = re.search(r"Elapsed \(wall clock\) time.*: (?:(\d+):)?(\d+):([\d.]+)", r.stderr)
    h, m, s = wall.groups()
    seconds = int(h or 0) * 3600 + int(m) * 60 + float(s)
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", r.stderr).group(1)) * 1024
    return seconds, rss, r.stderr


def estimate(toml: Path) -> float:
    r = subprocess.run([sys.executable, "-m", "ranker.cli", "estimate", "--config", str(toml)], capture_output=True,
                       text=True, check=True)
    return float(re.search(r"peak host memory: about ([\d.]+) GiB", r.stdout).group(1)) * 2**30


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--papers", default="2000000", help="comma-separated sizes, in papers (12 citations each)")
    ap.add_argument("--kinds", default="integer,openalex,openalex-text")
    ap.add_argument("--cache", default=str(Path(tempfile.gettempdir()) / "rank-citations-bench"))
    ap.add_argument("--seed-sets", type=int, default=0, help="add [personalize] with this many single-paper sets")
    ap.add_argument("--jobs", default="", help="PAPERS:KIND,... instead of every size with every kind "
                    "(say 2000000:integer,84000000:openalex for the 1B-citation row beside the 24M one)")
    a = ap.parse_args()
    cache = Path(a.cache)
    cache.mkdir(parents=True, exist_ok=True)
    rows = []
    base = base_ppr = None
    jobs = ([(int(j.split(":")[0]), j.split(":")[1]) for j in a.jobs.split(",")] if a.jobs
            else [(int(p), k) for p in a.papers.split(",") for k in a.kinds.split(",")])
    for papers, kind in jobs:
        d = generate(cache, papers, kind.removesuffix("-text"))
        out = cache / (f"out-{papers}-{kind}" + (f"-ppr{a.seed_sets}" if a.seed_sets else ""))
        seeds = single_paper_sets(d, a.seed_sets) if a.seed_sets else None
        toml = job_file(d, out, compact=not kind.endswith("-text"), seeds=seeds)
        predicted = estimate(toml)
        cmd = [sys.executable, "-m", "ranker.cli", "--config", str(toml), "--no-progress"]
        wall, rss, log = timed(cmd)
        run = json.loads((out / "run.json").read_text())
        e = run["citations"]
        stages = {m.group(1): (float(m.group(2)), float(m.group(3)))
                  for m in re.finditer(r"stage ([\w ()-]+?): ([\d.]+) s, peak memory ([\d.]+) GB", log)}
        per = wall / e * 1e6
        base = per if base is None else base
        rows.append((kind, e, run["papers"], wall, rss, per, per / base, predicted, stages,
                     run["ingest"].get("id_numbering", "")))
        budget = 16 * e + 64 * run["papers"]  # issue 21's target: 16 B per citation + 64 B per paper
        print(f"{kind}: {wall:.1f} s, peak {rss / 2**30:.2f} GiB, {rss / e:.1f} B/citation, {per:.3f} us/citation; "
              f"estimate said {predicted / 2**30:.2f} GiB ({predicted / rss:.2f}x); peak {rss / budget:.2f}x of "
              f"16 B/citation + 64 B/paper", flush=True)
        if a.seed_sets:
            ppr = run["seconds"]["personalize"] / a.seed_sets
            base_ppr = ppr if base_ppr is None else base_ppr
            facts = run["personalized"]
            print(f"  personalized: {a.seed_sets} single-paper sets in {facts['batches']} batches of up to "
                  f"{facts['batch_size']}: {ppr * 1e3:.2f} ms per seed set ({ppr / base_ppr:.2f}x the first job's); "
                  f"global solve {run['seconds']['pagerank']:.2f} s", flush=True)
    print()
    print("| ids | citations | papers | whole job | peak RSS | B/citation | vs 16 B/cit + 64 B/paper | us/citation | "
          "vs the first job | estimate (vs peak) | numbering |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for kind, e, n, wall, rss, per, ratio, pred, _, numbering in rows:
        print(f"| {kind} | {e:,} | {n:,} | {wall:.1f} s | {rss / 2**30:.2f} GiB | {rss / e:.1f} | "
              f"{rss / (16 * e + 64 * n):.2f}x | {per:.3f} | {ratio:.2f}x | {pred / 2**30:.2f} GiB ({pred / rss:.2f}x) "
              f"| {numbering} |")
    print()
    names = list(dict.fromkeys(s for r in rows for s in r[8]))
    print("| stage | " + " | ".join(r[0] for r in rows) + " |")
    print("|---|" + "---|" * len(rows))
    for s in names:
        cells = [f"{r[8][s][0]:.2f} s, {r[8][s][1]:.2f} GB" if s in r[8] else "" for r in rows]
        print(f"| {s} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
