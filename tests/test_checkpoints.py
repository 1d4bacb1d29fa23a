"""Checkpoints are bound to their job and verified: forged, foreign or damaged ones are solved again."""

import json
import logging

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import ranker.job.engines as engines
from ranker import parse_config, run_job
from ranker.io.checkpoints import Checkpoints, job_fingerprint
from ranker.io.listing import citation_files


def demo_cfg(tmp_path, out):
    return parse_config({
        "input": {"synthetic": {"papers": 2000, "seed_sets": 4, "seed": 5, "dir": str(tmp_path / "data")}},
        "rank": {"device": "cpu", "tol": 1e-12},
        "personalize": {"top_k": 10, "batch_size": 2},
        "output": {"dir": str(tmp_path / out)},
    })


def interrupted_run(tmp_path, monkeypatch, out):
    """A run killed after its first personalized batch: one genuine checkpoint is left."""
    cfg = demo_cfg(tmp_path, out)
    real, calls = engines.solve, []

    def dies(*a, **k):
        calls.append(1)
        if len(calls) == 3:  # the global solve, batch 0, then batch 1 dies
            raise KeyboardInterrupt
        return real(*a, **k)

    monkeypatch.setattr(engines, "solve", dies)
    with pytest.raises(KeyboardInterrupt):
        run_job(cfg, show_progress=False)
    monkeypatch.setattr(engines, "solve", real)
    ckpt = Checkpoints(tmp_path / out, job_fingerprint(cfg, citation_files(cfg.input.citations)))
    assert ckpt.parquet(0).is_file() and ckpt.sidecar(0).is_file() and not ckpt.parquet(1).exists()
    return cfg, ckpt


def rerun(cfg, caplog):
    log = logging.getLogger("ranker")
    log.addHandler(caplog.handler)
    try:
        with caplog.at_level(logging.WARNING, logger="ranker"):
            return run_job(cfg, show_progress=False)
    finally:
        log.removeHandler(caplog.handler)


def personalized(path):
    return pq.read_table(path / "personalized.parquet").replace_schema_metadata(None)


@pytest.fixture
def reference(tmp_path):
    run_job(demo_cfg(tmp_path, "full"), show_progress=False)
    return personalized(tmp_path / "full")


def test_genuine_checkpoint_is_reused(tmp_path, monkeypatch, reference, caplog):
    cfg, ckpt = interrupted_run(tmp_path, monkeypatch, "out")
    again = rerun(cfg, caplog)
    assert again.metadata["personalized"]["resumed_batches"] == 1 and "does not verify" not in caplog.text
    assert personalized(tmp_path / "out").equals(reference)


def test_forged_rows_with_their_hash_are_solved_again(tmp_path, monkeypatch, reference, caplog):
    cfg, ckpt = interrupted_run(tmp_path, monkeypatch, "out")
    t = pq.read_table(ckpt.parquet(0))
    forged = t.set_column(4, "share", pa.array([5.0] * t.num_rows))
    forged = forged.set_column(1, "paper_id", pa.array(["fake"] * t.num_rows))
    pq.write_table(forged, ckpt.parquet(0))
    side = json.loads(ckpt.sidecar(0).read_text())
    from ranker.io import file_sha256

    side["sha256"] = file_sha256(ckpt.parquet(0))  # a forger who also rewrites the hash
    ckpt.sidecar(0).write_text(json.dumps(side))
    again = rerun(cfg, caplog)
    assert "does not verify (scores or shares out of range)" in caplog.text
    assert again.metadata["personalized"]["resumed_batches"] == 0
    assert personalized(tmp_path / "out").equals(reference)


def test_changed_bytes_are_solved_again(tmp_path, monkeypatch, reference, caplog):
    cfg, ckpt = interrupted_run(tmp_path, monkeypatch, "out")
    t = pq.read_table(ckpt.parquet(0))
    pq.write_table(t.set_column(2, "score", pa.array([0.5] * t.num_rows)), ckpt.parquet(0))
    rerun(cfg, caplog)
    assert "its bytes changed since it was written" in caplog.text
    assert personalized(tmp_path / "out").equals(reference)


def test_extension_type_in_the_schema_is_not_carried_into_the_output(tmp_path, monkeypatch, reference, caplog):
    cfg, ckpt = interrupted_run(tmp_path, monkeypatch, "out")
    t = pq.read_table(ckpt.parquet(0))
    field = t.schema.field("score").with_metadata({b"ARROW:extension:name": b"evil.payload",
                                                   b"ARROW:extension:metadata": b"x" * 100})
    pq.write_table(t.cast(t.schema.set(2, field)), ckpt.parquet(0))
    side = json.loads(ckpt.sidecar(0).read_text())
    from ranker.io import file_sha256

    side["sha256"] = file_sha256(ckpt.parquet(0))
    ckpt.sidecar(0).write_text(json.dumps(side))
    rerun(cfg, caplog)
    assert "unexpected schema" in caplog.text
    out = pq.read_schema(tmp_path / "out" / "personalized.parquet")
    assert all(not f.metadata for f in out)
    assert personalized(tmp_path / "out").equals(reference)


def test_corrupt_data_page_with_an_intact_footer_is_solved_again(tmp_path, monkeypatch, reference, caplog):
    cfg, ckpt = interrupted_run(tmp_path, monkeypatch, "out")
    data = bytearray(ckpt.parquet(0).read_bytes())
    for i in range(8, 8 + 200):  # the first column chunk's pages; the footer at the end stays intact
        data[i] ^= 0xFF
    ckpt.parquet(0).write_bytes(bytes(data))
    again = rerun(cfg, caplog)
    assert "does not verify" in caplog.text and again.metadata["personalized"]["resumed_batches"] == 0
    assert personalized(tmp_path / "out").equals(reference)


def test_checkpoint_of_other_seed_sets_is_not_used(tmp_path, monkeypatch, reference, caplog):
    """A checkpoint under this job's name whose sidecar lists other seed sets (another batching)."""
    cfg, ckpt = interrupted_run(tmp_path, monkeypatch, "out")
    side = json.loads(ckpt.sidecar(0).read_text())
    side["seed_sets"] = ["set-999", "set-998"]
    ckpt.sidecar(0).write_text(json.dumps(side))
    rerun(cfg, caplog)
    assert "other seed sets" in caplog.text
    assert personalized(tmp_path / "out").equals(reference)
