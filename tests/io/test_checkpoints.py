"""Checkpoints are bound to their job and verified: forged, foreign or damaged ones are solved again."""

import dataclasses
import json
import logging
import os

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import ranker.job.local_engine as engines
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
    real, calls = engines.LocalEngine.rank_batch, []

    def dies(*a, **k):
        calls.append(1)
        if len(calls) == 2:  # batch 0 is solved, then batch 1 dies
            raise KeyboardInterrupt
        return real(*a, **k)

    monkeypatch.setattr(engines.LocalEngine, "rank_batch", dies)
    with pytest.raises(KeyboardInterrupt):
        run_job(cfg, show_progress=False)
    monkeypatch.setattr(engines.LocalEngine, "rank_batch", real)
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
    assert "does not verify (share out of range)" in caplog.text
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


def _resumed(result):
    return result.metadata["personalized"]["resumed_batches"]


def test_a_rerun_with_other_exclude_ids_solves_again_and_equals_a_fresh_run(tmp_path, monkeypatch, caplog):
    """[output] exclude_ids shapes the checkpointed rows: a rerun that changes it must not resume."""
    cfg, ckpt = interrupted_run(tmp_path, monkeypatch, "out")
    listed = pq.read_table(ckpt.parquet(0)).column("paper_id").to_pylist()
    excluded = listed[:3]
    changed = dataclasses.replace(cfg, output=dataclasses.replace(cfg.output, exclude_ids=tuple(excluded)))
    again = rerun(changed, caplog)
    assert _resumed(again) == 0
    got = personalized(tmp_path / "out")
    assert not set(excluded) & set(got.column("paper_id").to_pylist())
    fresh = dataclasses.replace(changed, output=dataclasses.replace(changed.output, dir=str(tmp_path / "fresh")))
    run_job(fresh, show_progress=False)
    assert got.equals(personalized(tmp_path / "fresh"))


def test_every_input_file_is_in_the_fingerprint_by_content(tmp_path):
    """Papers, seeds, authorships and citations: an edit that keeps size and mtime (cp -p, rsync -t,
    touch -r) changes the fingerprint; a touch that keeps the bytes does not."""
    cfg = demo_cfg(tmp_path, "out")
    run_job(dataclasses.replace(cfg, personalize=None), show_progress=False)  # generates the files
    files = citation_files(cfg.input.citations)
    base = job_fingerprint(cfg, files)
    for path in [cfg.input.papers, cfg.personalize.seeds, cfg.input.authorships, files[0]]:
        st = os.stat(path)
        data = bytearray(open(path, "rb").read())
        i = len(data) // 2
        data[i] ^= 0x01  # one bit in the middle: same size
        with open(path, "r+b") as fh:
            fh.write(bytes(data))
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))  # same modification time
        assert os.stat(path).st_size == st.st_size and os.stat(path).st_mtime_ns == st.st_mtime_ns
        assert job_fingerprint(cfg, files) != base, path
        data[i] ^= 0x01
        with open(path, "r+b") as fh:
            fh.write(bytes(data))
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # new mtime, the old bytes
        assert job_fingerprint(cfg, files) == base, path


def test_output_settings_that_shape_rows_are_in_the_fingerprint_and_the_others_not(tmp_path):
    cfg = demo_cfg(tmp_path, "out")
    run_job(dataclasses.replace(cfg, personalize=None), show_progress=False)
    files = citation_files(cfg.input.citations)
    base = job_fingerprint(cfg, files)

    def with_output(**kw):
        return job_fingerprint(dataclasses.replace(cfg, output=dataclasses.replace(cfg.output, **kw)), files)

    assert with_output(exclude_ids=("p1",)) != base
    assert with_output(ties="min") != base
    assert with_output(dir=str(tmp_path / "elsewhere")) == base
    assert with_output(report=False) == base


def test_a_successful_run_removes_checkpoint_folders_of_earlier_unfinished_jobs(tmp_path, monkeypatch, caplog):
    cfg, ckpt = interrupted_run(tmp_path, monkeypatch, "out")
    other = dataclasses.replace(cfg, rank=dataclasses.replace(cfg.rank, alpha=0.5))  # another job, same directory
    rerun(other, caplog)
    assert not (tmp_path / "out" / ".checkpoint").exists()
