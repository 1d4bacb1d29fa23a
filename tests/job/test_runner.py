"""The job as a whole: determinism, resume after an interruption, no partial outputs."""

import logging

import pyarrow.parquet as pq
import pytest
import torch

import ranker.job.local_engine as engines
from ranker import parse_config, run_job


def demo_cfg(tmp_path, out="out", **personalize):
    return parse_config({
        "input": {"synthetic": {"papers": 3000, "seed_sets": 5, "seed": 3, "dir": str(tmp_path / "data")}},
        "rank": {"device": "cpu", "tol": 1e-12},
        "personalize": {"top_k": 25, **personalize},
        "output": {"dir": str(tmp_path / out)},
    })


def tables(path):
    return pq.read_table(path / "papers.parquet"), pq.read_table(path / "personalized.parquet")


def test_same_input_same_bits_across_runs_and_thread_counts(tmp_path):
    threads = torch.get_num_threads()
    run_job(demo_cfg(tmp_path, "a"), show_progress=False)
    try:
        torch.set_num_threads(1)
        run_job(demo_cfg(tmp_path, "b", batch_size=2), show_progress=False)
    finally:
        torch.set_num_threads(threads)
    for x, y in zip(tables(tmp_path / "a"), tables(tmp_path / "b")):
        assert x.replace_schema_metadata(None).equals(y.replace_schema_metadata(None))


def test_interrupted_personalized_run_resumes(tmp_path, monkeypatch):
    full = run_job(demo_cfg(tmp_path, "full", batch_size=1), show_progress=False)
    assert full.metadata["personalized"]["batches"] == 5

    calls = []
    real = engines.LocalEngine.rank_batch

    def dies_on_third(*a, **k):  # one call per seed batch
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(*a, **k)

    monkeypatch.setattr(engines.LocalEngine, "rank_batch", dies_on_third)
    with pytest.raises(KeyboardInterrupt):
        run_job(demo_cfg(tmp_path, "resume", batch_size=1), show_progress=False)
    out = tmp_path / "resume"
    assert not (out / "personalized.parquet").exists() and not (out / "run.json").exists()
    ckpts = list((out / ".checkpoint").rglob("*.parquet"))
    assert len(ckpts) == 2
    assert not [p for p in out.rglob("*.tmp")]

    calls.clear()

    def counts(*a, **k):
        calls.append(1)
        return real(*a, **k)

    monkeypatch.setattr(engines.LocalEngine, "rank_batch", counts)
    again = run_job(demo_cfg(tmp_path, "resume", batch_size=1), show_progress=False)
    assert len(calls) == 3 and again.metadata["personalized"]["resumed_batches"] == 2
    for x, y in zip(tables(tmp_path / "full"), tables(out)):
        assert x.replace_schema_metadata(None).equals(y.replace_schema_metadata(None))
    assert not (out / ".checkpoint").exists()


def test_corrupt_checkpoint_is_solved_again(tmp_path, caplog):
    full = run_job(demo_cfg(tmp_path, "full", batch_size=2), show_progress=False)
    out = tmp_path / "again"
    cfg = demo_cfg(tmp_path, "again", batch_size=2)
    # plant what a previous run would have left: batch 0 finished, batch 1 damaged on disk
    from ranker.io.checkpoints import Checkpoints, job_fingerprint
    from ranker.io.listing import citation_files

    ckpt = Checkpoints(out, job_fingerprint(cfg, citation_files(cfg.input.citations))).dir
    ckpt.mkdir(parents=True)
    (ckpt / "batch-000001.parquet").write_bytes(b"PAR1 not really")
    ranker_log = logging.getLogger("ranker")
    ranker_log.addHandler(caplog.handler)  # the CLI tests may have turned propagation off
    try:
        with caplog.at_level(logging.WARNING, logger="ranker"):
            again = run_job(cfg, show_progress=False)
    finally:
        ranker_log.removeHandler(caplog.handler)
    assert "checkpoint does not verify (no readable sidecar); solving that batch again" in caplog.text
    assert again.metadata["personalized"]["resumed_batches"] == 0
    for x, y in zip(tables(tmp_path / "full"), tables(out)):
        assert x.replace_schema_metadata(None).equals(y.replace_schema_metadata(None))
    assert full.metadata["personalized"]["batches"] == again.metadata["personalized"]["batches"]


def test_out_of_memory_splits_batches_without_changing_results(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(engines, "LOCAL_SHARE", 0.0)  # every seed set solved over the whole graph, in batches
    run_job(demo_cfg(tmp_path, "plain"), show_progress=False)
    real = engines.solve

    def small_only(graph, teleport, **k):
        if teleport.shape[1] > 1:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 1.00 GiB")
        return real(graph, teleport, **k)

    monkeypatch.setattr(engines, "solve", small_only)
    ranker_log = logging.getLogger("ranker")  # the CLI's setup_logging may have stopped propagation
    ranker_log.addHandler(caplog.handler)
    try:
        with caplog.at_level("WARNING", logger="ranker"):
            run_job(demo_cfg(tmp_path, "split"), show_progress=False)
    finally:
        ranker_log.removeHandler(caplog.handler)
    assert "retrying as batches of 2 and 3" in caplog.text
    for x, y in zip(tables(tmp_path / "plain"), tables(tmp_path / "split")):
        assert x.replace_schema_metadata(None).equals(y.replace_schema_metadata(None))

    def always(graph, teleport, **k):
        raise torch.OutOfMemoryError("out of memory")

    monkeypatch.setattr(engines, "solve", always)
    with pytest.raises(torch.OutOfMemoryError):  # a single column on the CPU: nothing left to try
        run_job(demo_cfg(tmp_path, "none"), show_progress=False)
    assert not (tmp_path / "none" / "personalized.parquet").exists()


def test_other_runtime_errors_are_not_swallowed(tmp_path, monkeypatch):
    def broken(*a, **k):
        raise RuntimeError("something else")

    monkeypatch.setattr(engines, "solve", broken)
    with pytest.raises(RuntimeError, match="something else"):
        run_job(demo_cfg(tmp_path, "x"), show_progress=False)


@pytest.mark.parametrize("method", ["power", "dag"])
def test_personalized_outputs_are_bit_identical_whatever_the_batch_size(tmp_path, method):
    """The README's claim: batch sizes 1, 7, 12 and automatic give the same bits (ties ordered by paper id)."""
    def run(out, batch):
        cfg = parse_config({
            "input": {"synthetic": {"papers": 3000, "seed_sets": 12, "seed": 4, "dir": str(tmp_path / "data")}},
            "rank": {"device": "cpu", "tol": 1e-12, "method": method},
            "personalize": {"top_k": 40, "batch_size": batch},
            "output": {"dir": str(tmp_path / out)}})
        run_job(cfg, show_progress=False)
        return pq.read_table(tmp_path / out / "personalized.parquet").replace_schema_metadata(None)

    auto = run("auto", 0)
    for batch in (1, 7, 12):
        assert run(f"b{batch}", batch).equals(auto), f"batch_size = {batch}"
