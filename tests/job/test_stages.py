"""The job (ranker.job): one list of stages, all-or-nothing outputs, ids checked before any solve.

Every stage is made to fail (an error, or an interrupt) after doing its work: the previous
complete run's files must stay byte for byte, and no new file may appear under a final name,
on one process and under two gloo ranks.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os

import numpy as np
import pytest
import torch

import ranker.job.local_engine as engines
import ranker.job.ranking as ranking
import ranker.job.runner as runner
from dist_harness import Ranks
from oracles import write_parquet
from ranker import parse_config, run_job
from ranker.errors import ConfigError, InputError
from ranker.job.stages import STAGES
from ranker.solvers.iteration import iterate
from ranker.solvers.power import seed_teleport


def full_job(tmp_path, out, **extra) -> dict:
    """A job with every stage: papers, authors, personalized, trajectories, credit (string ids, 6 papers, a cycle)."""
    data = tmp_path / "data"
    if not (data / "citations.parquet").exists():
        write_parquet(data / "citations.parquet", {"citing": ["a", "a", "b", "c", "d", "e", "f", "c"],
                                                   "cited": ["b", "c", "c", "a", "a", "d", "e", "b"]})
        write_parquet(data / "papers.parquet", {"paper_id": list("abcdef"), "year": [2000 + i for i in range(6)]})
        write_parquet(data / "seeds.parquet", {"seed_set": ["s", "t", "t"], "paper_id": ["a", "b", "f"]})
        write_parquet(data / "authorships.parquet", {"paper_id": list("abcdefa"), "author": list("xyzxyzy")})
        write_parquet(data / "targets.parquet", {"target": ["e", "f"]})
    job = {"input": {"citations": str(data / "citations.parquet"), "papers": str(data / "papers.parquet"),
                     "authorships": str(data / "authorships.parquet")},
           "rank": {"device": "cpu"}, "personalize": {"seeds": str(data / "seeds.parquet"), "top_k": 3},
           "credit": {"targets": str(data / "targets.parquet")}, "trajectories": {"top_k": 3},
           "output": {"dir": str(out)}}
    for section, values in extra.items():
        if values is None:
            job.pop(section, None)
        else:
            job.setdefault(section, {}).update(values)
    return job


def snapshot(out) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(out.iterdir()) if p.is_file()}


class StageFailed(RuntimeError):
    pass


def failing(stages, name: str, exc: type[BaseException] = StageFailed, rank: int | None = None):
    """``stages`` with stage ``name`` raising ``exc`` after its work (on ``rank`` only, when given)."""
    def wrap(run):
        def run_then_fail(ctx):
            run(ctx)
            if rank is None or ctx.comm.rank == rank:
                raise exc(f"injected failure after stage {name}")
        return run_then_fail

    found = [s.name for s in stages]
    assert name in found, found
    return tuple(dataclasses.replace(s, run=wrap(s.run)) if s.name == name else s for s in stages)


ONE_PROCESS_STAGES = [s.name for s in STAGES if s.name != "generate"]


@pytest.mark.parametrize("exc", [StageFailed, KeyboardInterrupt], ids=["error", "interrupt"])
@pytest.mark.parametrize("stage", ONE_PROCESS_STAGES)
def test_a_failure_in_any_stage_leaves_the_previous_run_untouched(tmp_path, monkeypatch, stage, exc):
    out = tmp_path / "out"
    run_job(parse_config(full_job(tmp_path, out)), show_progress=False)
    before = snapshot(out)
    assert {"papers.parquet", "authors.parquet", "personalized.parquet", "trajectories.parquet", "credit.parquet",
            "run.json"} <= set(before)
    monkeypatch.setattr(runner, "STAGES", failing(STAGES, stage, exc))
    with pytest.raises(exc, match=f"after stage {stage}"):
        run_job(parse_config(full_job(tmp_path, out, rank={"alpha": 0.6})), show_progress=False)
    assert snapshot(out) == before  # no new file, no temp file, nothing replaced
    assert json.loads((out / "run.json").read_text())["config"]["rank"]["alpha"] == 0.85


def test_the_synthetic_generate_stage_failing_leaves_the_previous_run(tmp_path, monkeypatch):
    out = tmp_path / "out"
    job = {"input": {"synthetic": {"papers": 300, "seed_sets": 2}}, "rank": {"device": "cpu"},
           "output": {"dir": str(out)}}
    run_job(parse_config(job), show_progress=False)
    before = snapshot(out)
    monkeypatch.setattr(runner, "STAGES", failing(STAGES, "generate"))
    with pytest.raises(StageFailed):
        run_job(parse_config({**job, "rank": {"device": "cpu", "alpha": 0.5}}), show_progress=False)
    assert snapshot(out) == before


def test_a_run_without_a_section_removes_that_sections_file_of_the_previous_run(tmp_path):
    """run.json never sits beside another run's outputs: credit.parquet of a job with [credit] goes
    when the next job in the directory has none."""
    out = tmp_path / "out"
    run_job(parse_config(full_job(tmp_path, out)), show_progress=False)
    assert (out / "credit.parquet").exists()
    result = run_job(parse_config(full_job(tmp_path, out, credit=None, trajectories=None)), show_progress=False)
    assert not (out / "credit.parquet").exists()
    assert sorted(p.name for p in out.iterdir() if p.is_file()) == sorted(
        os.path.basename(p) for p in result.outputs.values())


def _solves_are_forbidden(monkeypatch):
    def forbidden(*a, **k):
        raise AssertionError("a solve ran before the ids were checked")

    monkeypatch.setattr(engines, "solve", forbidden)
    monkeypatch.setattr(ranking, "articlerank", forbidden)


@pytest.mark.parametrize("bad", ["seeds", "targets", "authorships"])
def test_bad_ids_fail_before_the_first_solve(tmp_path, monkeypatch, caplog, bad):
    data = tmp_path / "bad"
    data.mkdir()
    job = full_job(tmp_path, tmp_path / "out")
    if bad == "seeds":
        write_parquet(data / "s.parquet", {"seed_set": ["s"], "paper_id": ["nowhere"]})
        job["personalize"]["seeds"] = str(data / "s.parquet")
        message = "seed set 's' names paper 'nowhere', which is not in the citation graph"
    elif bad == "targets":
        write_parquet(data / "t.parquet", {"target": ["a", "nowhere"]})
        job["credit"]["targets"] = str(data / "t.parquet")
        message = "row 1: target 'nowhere' is not a paper of the citation graph"
    else:
        write_parquet(data / "a.parquet", {"paper_id": ["a", "b"], "author": ["x", None]})
        job["input"]["authorships"] = str(data / "a.parquet")
        message = "column 'author', row 1"
    _solves_are_forbidden(monkeypatch)
    with caplog.at_level(logging.INFO, logger="ranker"), pytest.raises(InputError, match=message):
        run_job(parse_config(job), show_progress=False)
    assert "stage ingest" in caplog.text and "stage pagerank" not in caplog.text and "condensation" not in caplog.text
    assert not (tmp_path / "out" / "papers.parquet").exists()


def test_a_missing_seeds_column_fails_before_the_citations_are_read(tmp_path, monkeypatch):
    data = tmp_path / "bad"
    data.mkdir()
    write_parquet(data / "s.parquet", {"set": ["s"], "paper_id": ["a"]})
    job = full_job(tmp_path, tmp_path / "out")
    job["personalize"]["seeds"] = str(data / "s.parquet")
    monkeypatch.setattr(engines, "read_citations", lambda *a, **k: pytest.fail("ingest ran"))
    with pytest.raises(InputError, match="seed_set"):
        run_job(parse_config(job), show_progress=False)


def test_iterate_with_the_one_process_hooks_is_the_plain_iteration_bit_for_bit():
    """The row-block hooks of pagerank_step are the identity on one process (SoloComm)."""
    from ranker import build_graph
    from ranker.kernels import pagerank_step
    from ranker.parallel.comm import SoloComm

    rng = np.random.default_rng(3)
    n = 300
    citing, cited = rng.integers(0, n, 2000), rng.integers(0, n, 2000)
    graph = build_graph(torch.from_numpy(citing), torch.from_numpy(cited), n)
    teleport = seed_teleport(n, torch.tensor([0, 1, 1, 2]), torch.tensor([5, 6, 7, 299]),
                             torch.tensor([1.0, 2.0, 1.0, 1.0]), 3)
    comm = SoloComm("cpu")

    def hooked(transition, x, v, dangling, alpha):
        return pagerank_step(transition, x, v, dangling, alpha, gather=lambda b: comm.all_gather_rows(b, n),
                             reduce=comm.sum_in_rank_order)

    kw = dict(alpha=0.85, tol=1e-12, max_iter=500)
    plain = iterate(graph.transition(torch.float64), teleport, teleport, graph.dangling, **kw)
    solo = iterate(graph.transition(torch.float64), teleport, teleport, graph.dangling, step=hooked, **kw)
    assert torch.equal(plain.scores, solo.scores) and torch.equal(plain.iterations, solo.iterations)


def test_the_partitioned_engine_on_one_process_equals_the_local_job(tmp_path):
    """read_partitioned + partitioned_pagerank over a SoloComm: the distributed path, run here."""
    from ranker.graph_build import graph_from_edges
    from ranker.io import read_citations
    from ranker.parallel.comm import SoloComm
    from ranker.parallel.distributed_power import partitioned_pagerank
    from ranker.parallel.ingest import read_partitioned
    from ranker.solvers.power import pagerank

    job = full_job(tmp_path, tmp_path / "out")
    files = [job["input"]["citations"]]
    g = read_partitioned(files, SoloComm("cpu"))
    t = torch.full((g.m, 1), 1.0 / g.n, dtype=torch.float64)
    part = partitioned_pagerank(g, t, SoloComm("cpu"), tol=1e-13, max_iter=10_000)
    edges = read_citations(files)
    local = pagerank(graph_from_edges(edges), tol=1e-13, max_iter=10_000)
    by_id = dict(zip(edges.ids.ids.to_pylist(), local.scores[:, 0].tolist()))
    for pid, s in zip(g.ids.to_pylist(), part.scores[:, 0].tolist()):
        assert abs(by_id[pid] - s) < 1e-14


def test_credit_under_several_processes_is_refused_before_any_work(tmp_path):
    from ranker.job.runner import check_supported

    class TwoRanks:
        world_size, rank, is_root = 2, 0, True

    cfg = parse_config(full_job(tmp_path, tmp_path / "out", personalize=None, trajectories=None))
    with pytest.raises(ConfigError, match=r"^\[credit\] needs one process"):
        check_supported(cfg, TwoRanks(), STAGES)
    cfg = parse_config(full_job(tmp_path, tmp_path / "out", credit=None))
    with pytest.raises(ConfigError, match=r"^\[trajectories\] needs one process"):
        check_supported(cfg, TwoRanks(), STAGES)
    cfg = parse_config(full_job(tmp_path, tmp_path / "out", credit=None, trajectories=None,
                                rank={"algorithm": "articlerank"}))
    with pytest.raises(ConfigError, match=r"^\[rank\] algorithm = 'articlerank' needs one process"):
        check_supported(cfg, TwoRanks(), STAGES)


# --------------------------------------------------------------------------- two gloo ranks

DISTRIBUTED_STAGES = ["check inputs", "ingest", "check ids", "rank", "write papers", "authors", "personalize"]


def _job_failing(cfg_dict: dict, stage: str | None, rank: int | None):
    import ranker.job.runner as job_runner

    if stage is not None:
        job_runner.STAGES = failing(STAGES, stage, rank=rank)
    try:
        return run_job(parse_config(cfg_dict), show_progress=False).outputs
    finally:
        job_runner.STAGES = STAGES


@pytest.fixture(scope="module")
def two_ranks():
    pool = Ranks(2)
    yield pool
    pool.close()


@pytest.mark.distributed
@pytest.mark.slow
def test_a_failure_in_any_stage_on_either_rank_leaves_the_previous_run(two_ranks, tmp_path):
    out = tmp_path / "out"
    first = two_ranks.run(_job_failing, full_job(tmp_path, out, credit=None, trajectories=None), None, None)
    assert all(r is not None and r[0] == "ok" for r in first), first
    before = snapshot(out)
    assert {"papers.parquet", "authors.parquet", "personalized.parquet", "run.json"} <= set(before)
    job = full_job(tmp_path, out, credit=None, trajectories=None, rank={"alpha": 0.6})
    root_only = {s.name for s in STAGES if s.root_only}
    for stage in DISTRIBUTED_STAGES:
        for rank in (0,) if stage in root_only else (0, 1):
            results = two_ranks.run(_job_failing, job, stage, rank)
            assert all(r is not None and r[0] == "error" for r in results), (stage, rank, results)
            assert snapshot(out) == before, (stage, rank)
    assert json.loads((out / "run.json").read_text())["config"]["rank"]["alpha"] == 0.85


def _job_without_solves(cfg_dict: dict):
    import ranker.parallel.distributed_power as solver

    def forbidden(*a, **k):
        raise AssertionError("a solve ran before the ids were checked")

    solver.partitioned_pagerank = forbidden
    return run_job(parse_config(cfg_dict), show_progress=False).outputs


@pytest.mark.distributed
@pytest.mark.slow
def test_bad_seeds_fail_on_every_rank_before_the_first_solve(tmp_path):
    from dist_harness import run_once

    data = tmp_path / "bad"
    data.mkdir()
    write_parquet(data / "s.parquet", {"seed_set": ["s"], "paper_id": ["nowhere"]})
    job = full_job(tmp_path, tmp_path / "out", credit=None, trajectories=None)
    job["personalize"]["seeds"] = str(data / "s.parquet")
    results = run_once(2, _job_without_solves, job)
    assert [r[1] for r in results] == ["InputError", "InputError"], results
    assert all("names paper 'nowhere'" in r[2] for r in results)
