"""A small job runs the kernels' plain references and loads nothing compiled (ranker.kernels.compiled_pays).

Below ``ranker.kernels.COMPILED_MIN`` citations a new CPU process numbers its ids with Arrow,
plans with scipy and numpy and solves with torch: loading numba's kernels into it costs more
than they save there (and a machine's first run would compile them). The other tests run every
graph through the compiled kernels (tests/conftest.py); these run the default.
"""

from __future__ import annotations

import gzip
import json
import subprocess
import sys

import numpy as np
import pyarrow.parquet as pq
import pytest

import ranker.kernels
from oracles import nx_pagerank, write_parquet
from ranker import load_config, run_job

PROBE = """
import atexit, sys
atexit.register(lambda: print("numba imported:", "numba" in sys.modules))
from ranker.cli import main
sys.argv = ["rank-citations", "--config", sys.argv[1], "--quiet"]
main()
"""


def _citations(n=800, seed=3):
    """Citations to older papers, some to newer ones (cycles, one large component), repeats and a self-citation."""
    rng = np.random.default_rng(seed)
    pairs = rng.integers(0, n, size=(6 * n, 2))
    older = pairs[pairs[:, 0] > pairs[:, 1]]
    newer = rng.integers(300, 500, size=(400, 2))  # a component of about 200 papers
    return np.concatenate([older, newer, older[:20], [[7, 7]]])


def _job(tmp_path, out: str):
    n = 800
    e = _citations(n)
    ids = [f"https://openalex.org/W{1000 + 37 * i}" for i in range(n)]  # one prefix and digits
    write_parquet(tmp_path / "data" / "citations.parquet",
                  {"citing": [ids[i] for i in e[:, 0]], "cited": [ids[j] for j in e[:, 1]]})
    write_parquet(tmp_path / "data" / "papers.parquet", {"paper_id": ids})
    job = tmp_path / f"{out}.toml"
    job.write_text(f'[input]\ncitations = "{tmp_path / "data" / "citations.parquet"}"\n'
                   f'papers = "{tmp_path / "data" / "papers.parquet"}"\n'
                   f'[rank]\ndevice = "cpu"\ntol = 1e-14\n[output]\ndir = "{tmp_path / out}"\nreport = false\n')
    return job, ids, e


def _scores(folder) -> dict[str, float]:
    t = pq.read_table(folder / "papers.parquet", columns=["paper_id", "score"]).to_pydict()
    return dict(zip(t["paper_id"], t["score"]))


def _small_and_compiled(tmp_path, make_job) -> tuple[dict, dict]:
    """The job run by the command in a new process with the default thresholds (numba must not be
    imported) and in this process with every kernel compiled: the same scores to 1e-12, and those
    of networkx. Returns both runs' ``run.json``."""
    job, ids, e = make_job(tmp_path, "small")
    r = subprocess.run([sys.executable, "-c", PROBE, str(job)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split()[-1] == "False", "numba was imported"
    compiled_job, _, _ = make_job(tmp_path, "compiled")
    assert ranker.kernels.COMPILED_MIN == 0  # tests/conftest.py: every kernel compiled in process
    run_job(load_config(compiled_job), show_progress=False)
    small, compiled = _scores(tmp_path / "small"), _scores(tmp_path / "compiled")
    assert small.keys() == compiled.keys() == set(ids)
    got = np.array([small[i] for i in ids])
    np.testing.assert_allclose(got, [compiled[i] for i in ids], rtol=0, atol=1e-12)
    want = nx_pagerank(list(dict.fromkeys(map(tuple, e.tolist()))), len(ids))
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-10)  # networkx stops at an L1 change of n * 1e-15
    return tuple(json.loads((tmp_path / d / "run.json").read_text()) for d in ("small", "compiled"))


def test_a_small_job_loads_no_compiled_kernel_and_gives_the_compiled_answers(tmp_path):
    """The command on 800 papers: numba never imported; its ids numbered by Arrow, the same scores
    as every kernel compiled (to 1e-12) and as networkx."""
    facts, compiled_facts = _small_and_compiled(tmp_path, _job)
    assert facts["ingest"]["id_numbering"] == compiled_facts["ingest"]["id_numbering"]
    assert "string ids as integers" in facts["ingest"]["id_numbering"]
    assert facts["solver"].startswith("dag: condensation sweep, torch")  # what ran, in run.json
    assert compiled_facts["solver"].startswith("dag: condensation sweep, compiled")


@pytest.mark.parametrize("citations,columns,device,loaded,pays", [
    (1 << 20, 1, "cpu", False, True),
    ((1 << 20) - 1, 1, "cpu", False, False),
    (352_807, 1, "cpu", False, False),  # hep-th's global solve in a new process: the references
    (352_807, 64, "cpu", False, False),  # 64 seed sets at once: still cheaper than loading the kernels
    (352_807, 1000, "cpu", False, True),  # a thousand: the compiled sweep
    (352_807, 1, "cpu", True, True),  # numba already loaded in this process: its cost is paid
    (1 << 30, 1, "cuda:0", True, False),  # a GPU runs the references: they are its kernels
])
def test_the_compiled_kernels_pay_for_large_work_or_once_loaded(monkeypatch, citations, columns, device, loaded,
                                                                 pays):
    monkeypatch.setattr(ranker.kernels, "COMPILED_MIN", 1 << 20)
    monkeypatch.setattr(ranker.kernels, "COMPILED_WORK_MIN", 1 << 26)
    if loaded:
        monkeypatch.setitem(sys.modules, "numba", sys.modules.get("numba", object()))
    else:
        monkeypatch.delitem(sys.modules, "numba", raising=False)
    assert ranker.kernels.compiled_pays(citations, device, columns) is pays
    # what a new process would choose (estimate's question): the same but for numba already loaded
    fresh = ranker.kernels.compiled_pays(citations, device, columns, new_process=True)
    assert fresh is (pays and not (loaded and citations < (1 << 20) and citations * columns < (1 << 26)))


def _works_job(tmp_path, out: str):
    """The citations of :func:`_citations` as a gzipped OpenAlex-shaped JSON Lines part: one record a paper."""
    n = 800
    e = _citations(n)
    ids = [f"https://openalex.org/W{1000 + 37 * i}" for i in range(n)]
    refs: list[list[str]] = [[] for _ in range(n)]
    for i, j in e.tolist():
        refs[i].append(ids[j])
    part = tmp_path / "works" / "part_000.gz"
    if not part.exists():
        part.parent.mkdir(parents=True, exist_ok=True)
        part.write_bytes(gzip.compress("".join(
            json.dumps({"id": ids[i], "title": f"paper {i}", "referenced_works": refs[i], "cited_by_count": 0}) + "\n"
            for i in range(n)).encode()))
    job = tmp_path / f"{out}.toml"
    job.write_text(f'[input]\ncitations = "{part.parent}"\nciting_column = "id"\ncited_column = "referenced_works"\n'
                   f'[rank]\ndevice = "cpu"\ntol = 1e-14\n[output]\ndir = "{tmp_path / out}"\nreport = false\n')
    return job, ids, e


def test_a_small_json_lines_job_loads_no_compiled_kernel_and_gives_the_scanners_answers(tmp_path):
    """A small OpenAlex-shaped part: read by the general reader (its nesting checked by numpy), numba
    never imported; the scores of the compiled works scanner (to 1e-12) and of networkx."""
    facts, compiled_facts = _small_and_compiled(tmp_path, _works_job)
    assert "reader" not in facts["ingest"] and compiled_facts["ingest"]["reader"].startswith("works scanner")
