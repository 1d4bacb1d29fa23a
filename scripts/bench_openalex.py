#!/usr/bin/env python
"""An OpenAlex works snapshot to a ranking, side by side with duckdb + igraph, each a whole cold process.

Usage::

    pip install duckdb            # the peer; not a dependency of the package
    python scripts/bench_openalex.py --works 200000 --parts 4

The snapshot is generated once (cached under ``--cache``): the citation graph of
``ranker.synthetic`` (regime ``spread``, ``--refs`` references a work, OpenAlex URL ids in no
relation to the works' order), written as OpenAlex writes its works snapshot: gzipped JSON Lines
parts ``works/updated_date=.../part_NNN.gz``, one work per line with the fields a real record has
(ids, titles, dates, locations, authorships with institutions, concepts, related works,
counts by year, an abstract's inverted index, ...; about 4.6 KB of JSON a work), of which ranking
needs only ``id`` and ``referenced_works``.

Ranked

- by ``rank-citations`` (``citations = "works/"``, ``citing_column = "id"``, ``cited_column =
  "referenced_works"``; global PageRank, papers.parquet out, no report);
- by what a skilled analyst does instead: a cold script where duckdb reads only ``id`` and
  ``referenced_works`` of every part, unnests, numbers the ids in SQL, igraph builds the graph
  (duplicate citations once, as ours) and runs PRPACK, and pyarrow writes the scores.

Both run under ``/usr/bin/time -v``. Printed: wall time and peak RSS of each, the ratio, and the
largest and summed difference between the two rankings' scores.
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import sys
import tempfile
import textwrap
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from process_timing import time_process

PEER = textwrap.dedent('''
    import sys, time
    t0 = time.perf_counter()
    import duckdb, igraph, numpy as np, pyarrow as pa, pyarrow.parquet as pq
    works, out = sys.argv[1], sys.argv[2]
    con = duckdb.connect()
    con.execute(f"""
        CREATE TABLE w AS SELECT id, referenced_works FROM read_json('{works}/*/*.gz', format='newline_delimited',
            compression='gzip', columns={{'id': 'VARCHAR', 'referenced_works': 'VARCHAR[]'}});
        CREATE TABLE e AS SELECT id AS citing, unnest(referenced_works) AS cited FROM w;
        CREATE TABLE ids AS SELECT id, (row_number() OVER ()) - 1 AS i
            FROM (SELECT id FROM w UNION SELECT cited FROM e);
    """)
    edges = con.execute("""SELECT a.i, b.i FROM e JOIN ids a ON e.citing = a.id JOIN ids b ON e.cited = b.id
                        """).fetchnumpy()
    ids = con.execute("SELECT id FROM ids ORDER BY i").to_arrow_table().column(0)
    t1 = time.perf_counter()
    g = igraph.Graph(n=len(ids), edges=np.stack([edges["i"], edges["i_1"]], 1), directed=True)
    g.simplify(multiple=True, loops=False)
    pr = np.array(g.pagerank(damping=0.85, directed=True, implementation="prpack"))
    t2 = time.perf_counter()
    o = np.argsort(-pr, kind="stable")
    pq.write_table(pa.table({"paper_id": ids.take(pa.array(o)), "score": pr[o],
                             "rank": np.arange(1, len(o) + 1)}), out)
    print(f"duckdb read + number {t1 - t0:.2f} s, igraph build + PRPACK {t2 - t1:.2f} s, "
          f"write {time.perf_counter() - t2:.2f} s", flush=True)
''')


def _filler(rng: object, i: int, year: int) -> dict:
    """The fields of a real OpenAlex work that ranking does not read, at their usual sizes."""
    import numpy as np

    r: np.random.Generator = rng  # type: ignore[assignment]
    words = ["quantum", "network", "graph", "model", "learning", "citation", "theory", "protein", "cell",
             "analysis", "system", "data", "energy", "field", "dynamics", "structure", "effect", "method"]
    title = " ".join(r.choice(words, size=int(r.integers(5, 14))).tolist()).capitalize()
    n_auth = int(r.integers(1, 5))
    authors = [{
        "author_position": "first" if k == 0 else ("last" if k == n_auth - 1 else "middle"),
        "author": {"id": f"https://openalex.org/A{int(r.integers(5e9, 6e9))}", "display_name": f"Author {k} {i}",
                   "orcid": None if r.random() < 0.6 else f"https://orcid.org/0000-0002-{int(r.integers(1e3, 1e4))}"},
        "institutions": [{"id": f"https://openalex.org/I{int(r.integers(1e7, 1e9))}",
                          "display_name": "University of Somewhere", "ror": "https://ror.org/00abc1234",
                          "country_code": "US", "type": "education"}],
        "countries": ["US"], "is_corresponding": k == 0, "raw_author_name": f"A. Author{k}",
        "raw_affiliation_strings": ["Department of Physics, University of Somewhere, Somewhere, USA"],
    } for k in range(n_auth)]
    abstract = {w: sorted(r.integers(0, 180, size=int(r.integers(1, 4))).tolist())
                for w in r.choice(words + [f"w{j}" for j in range(60)], size=16).tolist()}
    return {
        "doi": f"https://doi.org/10.{int(r.integers(1000, 9999))}/x{i}", "title": title, "display_name": title,
        "publication_year": year,
        "publication_date": f"{year}-{int(r.integers(1, 13)):02d}-{int(r.integers(1, 29)):02d}",
        "ids": {"openalex": None, "doi": f"https://doi.org/10.1/x{i}", "mag": int(r.integers(1e9, 4e9))},
        "language": "en", "type": "article", "type_crossref": "journal-article",
        "primary_location": {"is_oa": False, "landing_page_url": f"https://doi.org/10.1/x{i}", "pdf_url": None,
                             "source": {"id": f"https://openalex.org/S{int(r.integers(1e8, 5e9))}",
                                        "display_name": "Journal of Examples", "issn_l": "1234-5678",
                                        "issn": ["1234-5678"], "host_organization": "https://openalex.org/P1",
                                        "type": "journal"}, "license": None, "version": "publishedVersion"},
        "open_access": {"is_oa": bool(r.random() < 0.4), "oa_status": "closed", "oa_url": None},
        "authorships": authors, "cited_by_count": int(r.integers(0, 500)),
        "biblio": {"volume": str(int(r.integers(1, 90))), "issue": str(int(r.integers(1, 12))),
                   "first_page": "1", "last_page": "12"},
        "is_retracted": False, "is_paratext": False,
        "concepts": [{"id": f"https://openalex.org/C{int(r.integers(1e7, 3e9))}",
                      "wikidata": "https://www.wikidata.org/wiki/Q1",
                      "display_name": str(w), "level": int(r.integers(0, 4)), "score": round(float(r.random()), 6)}
                     for w in r.choice(words, size=4).tolist()],
        "related_works": [f"https://openalex.org/W{int(x)}" for x in r.integers(1e9, 4.4e9, size=10)],
        "counts_by_year": [{"year": y, "cited_by_count": int(r.integers(0, 40))} for y in range(2012, 2024)],
        "abstract_inverted_index": abstract,
        "updated_date": "2024-01-01T00:00:00.000000", "created_date": "2016-06-24",
    }


def _write_part(task: tuple[str, int, list, list, list]) -> int:
    """One gzipped JSON Lines part: ``(path, seed, ids, years, references)``."""
    import numpy as np

    path, seed, ids, years, refs = task
    rng = np.random.default_rng(seed)
    with gzip.open(path, "wt", compresslevel=6) as fh:
        for i, (wid, year, cited) in enumerate(zip(ids, years, refs)):
            rec = {"id": wid, **_filler(rng, i, year), "referenced_works": cited}
            rec["ids"]["openalex"] = wid
            fh.write(json.dumps(rec, separators=(",", ":")) + "\n")
    return len(ids)


def make_snapshot(cache: Path, works: int, parts: int, refs: float) -> tuple[Path, int]:
    """The snapshot's ``works`` folder (written once), and its citation count."""
    import numpy as np
    import pyarrow.dataset as ds
    import pyarrow.parquet as pq

    from ranker.synthetic import REGIMES, SyntheticSpec, generate

    data = cache / f"openalex-graph-{works}-{refs:g}"
    generate(data, SyntheticSpec(papers=works, mean_references=refs, seed=0, id_kind="openalex", seed_sets=0,
                                 **REGIMES["spread"]))
    snap = cache / f"openalex-snapshot-{works}-{refs:g}-{parts}"
    done = snap / "citations.json"
    if done.exists():
        return snap / "works", json.loads(done.read_text())["citations"]
    papers = pq.read_table(data / "papers.parquet", columns=["paper_id", "year"])
    cit = ds.dataset(data / "citations").to_table(columns=["citing", "cited"])
    ids = papers.column("paper_id").to_pylist()
    index = {p: k for k, p in enumerate(ids)}
    citing = np.fromiter((index[p] for p in cit.column("citing").to_pylist()), np.int64, cit.num_rows)
    order = np.argsort(citing, kind="stable")
    cited = np.array(cit.column("cited").to_pylist(), dtype=object)[order]
    starts = np.searchsorted(citing[order], np.arange(len(ids) + 1))
    refs_of = [cited[starts[k]:starts[k + 1]].tolist() for k in range(len(ids))]
    years = papers.column("year").to_pylist()
    perm = np.random.default_rng(1).permutation(len(ids))  # a snapshot lists works in update order
    folder = snap / "works" / "updated_date=2024-01-01"
    folder.mkdir(parents=True, exist_ok=True)
    bounds = np.linspace(0, len(ids), parts + 1).astype(int)
    tasks = [(str(folder / f"part_{p:03d}.gz"), p, [ids[k] for k in perm[a:b]], [years[k] for k in perm[a:b]],
              [refs_of[k] for k in perm[a:b]]) for p, (a, b) in enumerate(zip(bounds[:-1], bounds[1:]))]
    with ProcessPoolExecutor(2) as pool:
        list(pool.map(_write_part, tasks))
    done.write_text(json.dumps({"citations": cit.num_rows}))
    return snap / "works", cit.num_rows


def timed(cmd: list[str]) -> tuple[str, float, int]:
    """Output, wall seconds and peak RSS bytes of a whole process."""
    run = time_process(cmd)
    return run.stdout + run.stderr, run.seconds, run.rss


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--works", type=int, default=200_000)
    ap.add_argument("--parts", type=int, default=4)
    ap.add_argument("--refs", type=float, default=20.0)
    ap.add_argument("--cache", default=str(Path(tempfile.gettempdir()) / "rank-citations-bench"))
    a = ap.parse_args()
    import pyarrow.parquet as pq

    works, n_cit = make_snapshot(Path(a.cache), a.works, a.parts, a.refs)
    size = sum(f.stat().st_size for f in works.rglob("*.gz"))
    print(f"# snapshot {works}: {a.works:,} works, {n_cit:,} references, {a.parts} parts, {size / 2**20:.0f} MiB "
          "gzipped", flush=True)
    work = Path(tempfile.mkdtemp(prefix="bench-openalex-"))
    job = work / "job.toml"
    job.write_text(f'[input]\ncitations = "{works}"\nciting_column = "id"\ncited_column = "referenced_works"\n'
                   f'[rank]\ndevice = "cpu"\n[output]\ndir = "{work / "ours"}"\nreport = false\n')
    log, ours, ours_rss = timed([sys.executable, "-m", "ranker.cli", "--config", str(job), "--no-progress"])
    stages = re.findall(r"stage ([\w ()-]+?): ([\d.]+) s", log)
    print(f"  ours            {ours:7.2f} s, peak {ours_rss / 2**30:5.2f} GiB; "
          + ", ".join(f"{s} {float(t):.2f} s" for s, t in stages), flush=True)
    script = work / "peer.py"
    script.write_text(PEER)
    log, peer, peer_rss = timed([sys.executable, str(script), str(works), str(work / "peer.parquet")])
    print(f"  duckdb + igraph {peer:7.2f} s, peak {peer_rss / 2**30:5.2f} GiB; {log.strip().splitlines()[0]}",
          flush=True)
    mine = pq.read_table(work / "ours" / "papers.parquet", columns=["paper_id", "score"]).to_pydict()
    theirs = pq.read_table(work / "peer.parquet", columns=["paper_id", "score"]).to_pydict()
    ref = dict(zip(theirs["paper_id"], theirs["score"]))
    diffs = [abs(s - ref[p]) for p, s in zip(mine["paper_id"], mine["score"])]
    assert len(mine["paper_id"]) == len(ref), (len(mine["paper_id"]), len(ref))
    print(f"\nours / duckdb + igraph, whole processes: {ours:.2f} / {peer:.2f} = {ours / peer:.2f}x "
          f"(target <= 0.5x); scores: L1 {sum(diffs):.1e}, largest {max(diffs):.1e}")


if __name__ == "__main__":
    main()
