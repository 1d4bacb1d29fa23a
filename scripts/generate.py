#!/usr/bin/env python
"""Write a synthetic citation dataset (citations, papers, authorships, seeds) as parquet.

    python scripts/generate.py out/syn-2m --papers 2000000 --mean-references 12
    python scripts/generate.py out/syn-10m --papers 10000000 --mean-references 12 --id-kind integer
    python scripts/generate.py out/syn-oa --papers 2000000 --mean-references 12 --id-kind openalex

Deterministic for a given set of arguments; see ranker.synthetic for the model.
"""

import argparse
import time

from ranker.synthetic import SyntheticSpec, generate


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out_dir")
    ap.add_argument("--papers", type=int, default=20_000)
    ap.add_argument("--mean-references", type=float, default=10.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--seed-sets", type=int, default=8)
    ap.add_argument("--id-kind", choices=["string", "integer", "openalex"], default="string")
    a = ap.parse_args()
    t = time.perf_counter()
    m = generate(a.out_dir, SyntheticSpec(papers=a.papers, mean_references=a.mean_references, seed=a.seed,
                                          seed_sets=a.seed_sets, id_kind=a.id_kind))
    print(f"{a.out_dir}: {m['papers']:,} papers, {m['citations']:,} citations, {m['authorships']:,} authorships "
          f"in {time.perf_counter() - t:.1f} s")


if __name__ == "__main__":
    main()
