"""A real process killed with SIGTERM mid-run: exit 130, no partial output, and a rerun resumes."""

import os
import signal
import subprocess
import sys
import time

import pyarrow.parquet as pq
import pytest


def job(tmp_path, out):
    p = tmp_path / f"{out}.toml"
    p.write_text(f"""
[input.synthetic]
papers = 20000
seed_sets = 40
dir = "data"
[rank]
device = "cpu"
[personalize]
top_k = 10
batch_size = 1
[output]
dir = "{out}"
""")
    return p


def run(cfg, **kw):
    return subprocess.Popen([sys.executable, "-m", "ranker.cli", "--config", str(cfg), "--quiet"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


@pytest.mark.slow
def test_sigterm_leaves_no_partial_output_and_rerun_resumes(tmp_path):
    full = run(job(tmp_path, "full"))
    assert full.wait(timeout=300) == 0, full.stderr.read()

    cfg = job(tmp_path, "killed")
    proc = run(cfg)
    ckpt = tmp_path / "killed" / ".checkpoint"
    for _ in range(6000):  # poll (at most about two minutes) until three batches are checkpointed
        if len(list(ckpt.rglob("batch-*.json"))) >= 3 or proc.poll() is not None:
            break
        time.sleep(0.02)
    assert proc.poll() is None, "the run finished before it could be interrupted"
    os.kill(proc.pid, signal.SIGTERM)
    assert proc.wait(timeout=60) == 130
    err = proc.stderr.read()
    assert "interrupted" in err and "Traceback" not in err
    out = tmp_path / "killed"
    assert not (out / "personalized.parquet").exists() and not (out / "run.json").exists()
    assert not list(out.rglob("*.tmp"))  # the checkpoint folder included
    done = len(list(ckpt.rglob("batch-*.json")))  # a checkpoint is finished once its sidecar vouches for it
    assert 3 <= done < 40

    again = run(cfg, env={**os.environ})
    assert again.wait(timeout=300) == 0, again.stderr.read()
    import json

    meta = json.loads((out / "run.json").read_text())
    assert meta["personalized"]["resumed_batches"] == done
    for name in ("papers.parquet", "personalized.parquet"):
        a = pq.read_table(tmp_path / "full" / name).replace_schema_metadata(None)
        b = pq.read_table(out / name).replace_schema_metadata(None)
        assert a.equals(b)
