"""End to end: job file and parquet in tmp_path, the CLI, outputs checked against networkx."""

import json
import subprocess
import sys

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from oracles import nx_pagerank, write_parquet
from ranker.cli import app

runner = CliRunner()

EDGES = [("0001001", "1001"), ("1001", "0000007"), ("0000007", "0001001"), ("0000042", "1001"),
         ("0000042", "0000042"), ("0000042", "1001"), ("0000099", "0000007")]
PAPERS = ["0001001", "1001", "0000007", "0000042", "0000099", "0000500"]  # 0000500: no citations at all


def make_job(tmp_path, *, extra="", seeds=True):
    write_parquet(tmp_path / "data" / "cit" / "part-0.parquet",
                  {"citing": [e[0] for e in EDGES[:4]], "cited": [e[1] for e in EDGES[:4]]})
    write_parquet(tmp_path / "data" / "cit" / "part-1.parquet",
                  {"citing": [e[0] for e in EDGES[4:]], "cited": [e[1] for e in EDGES[4:]]})
    write_parquet(tmp_path / "data" / "papers.parquet", {"paper_id": PAPERS})
    write_parquet(tmp_path / "data" / "seeds.parquet", {"seed_set": ["s1", "s2", "s2", "s3"],
                                                        "paper_id": ["0000042", "0000099", "1001", "0000500"],
                                                        "weight": [1.0, 3.0, 1.0, 1.0]})
    text = f"""
[input]
citations = "data/cit"
papers = "data/papers.parquet"
[rank]
alpha = 0.85
tol = 1e-14
device = "cpu"
{"[personalize]" + chr(10) + 'seeds = "data/seeds.parquet"' + chr(10) + "top_k = 3" if seeds else ""}
[output]
dir = "out"
{extra}
"""
    p = tmp_path / "job.toml"
    p.write_text(text)
    return p


def oracle(personalization=None):
    idx = {p: i for i, p in enumerate(PAPERS)}
    edges = list(dict.fromkeys((idx[a], idx[b]) for a, b in EDGES))
    return nx_pagerank(edges, len(PAPERS), personalization=personalization)


def test_end_to_end_matches_networkx(tmp_path):
    job = make_job(tmp_path)
    r = runner.invoke(app, ["--config", str(job), "--no-progress"])
    assert r.exit_code == 0, r.output
    papers = pq.read_table(tmp_path / "out" / "papers.parquet")
    assert papers.schema.field("paper_id").type == pa.string()
    assert papers.column_names == ["paper_id", "score", "rank", "share", "citations"]
    indegree = {p: len({a for a, b in EDGES if b == p}) for p in PAPERS}  # distinct citers (duplicates once)
    assert dict(zip(papers.column("paper_id").to_pylist(), papers.column("citations").to_pylist())) == indegree
    np.testing.assert_allclose(papers.column("share").to_numpy(), papers.column("score").to_numpy(), rtol=1e-12)
    got = dict(zip(papers.column("paper_id").to_pylist(), papers.column("score").to_pylist()))
    want = oracle()
    assert set(got) == set(PAPERS)
    for i, p in enumerate(PAPERS):
        assert abs(got[p] - want[i]) < 1e-12
    assert papers.column("rank").to_pylist() == list(range(1, 7))
    scores = papers.column("score").to_pylist()
    assert scores == sorted(scores, reverse=True)

    pers = pq.read_table(tmp_path / "out" / "personalized.parquet")
    assert pers.column_names == ["seed_set", "paper_id", "score", "rank", "share", "is_seed"]
    seeds = {("s1", "0000042"), ("s2", "0000099"), ("s2", "1001"), ("s3", "0000500")}
    assert [(s, p) in seeds for s, p in zip(pers.column("seed_set").to_pylist(), pers.column("paper_id").to_pylist())
            ] == pers.column("is_seed").to_pylist()
    np.testing.assert_allclose(pers.column("share").to_numpy(), pers.column("score").to_numpy(), rtol=1e-12)
    # s3's seed cites nothing and nothing reaches others from it: networkx gives every other paper 0,
    # and papers a set cannot reach are not listed (no padding with zero-score rows ordered by id)
    assert pers.column("seed_set").to_pylist() == ["s1"] * 3 + ["s2"] * 3 + ["s3"]
    for name, v in [("s2", {"0000099": 0.75, "1001": 0.25}), ("s3", {"0000500": 1.0})]:
        vec = np.array([v.get(p, 0.0) for p in PAPERS])
        want = oracle(vec)
        rows = pers.filter(pa.compute.equal(pers.column("seed_set"), name)).to_pylist()
        # networkx starts from the uniform vector: what an unreachable paper keeps of it decays to ~1e-15
        top = [i for i in np.argsort(-want, kind="stable")[:3] if want[i] > 1e-12]
        assert [r["paper_id"] for r in rows] == [PAPERS[i] for i in top]
        assert [r["rank"] for r in rows] == list(range(1, len(top) + 1))
        for r in rows:
            assert abs(r["score"] - want[PAPERS.index(r["paper_id"])]) < 1e-12

    meta = json.loads((tmp_path / "out" / "run.json").read_text())
    assert meta["papers"] == 6 and meta["citations"] == 6 and meta["graph"]["duplicate_rows"] == 1
    assert meta["graph"]["self_citations"] == 1 and meta["device"] == "cpu"
    assert meta["global"]["converged"] and meta["personalized"]["seed_sets"] == 3
    timed_stages = set(meta["seconds"])  # run.json names every stage it timed (values are not checked)
    assert timed_stages >= {"ingest", "build", "pagerank", "total"}
    kv = json.loads(papers.schema.metadata[b"rank_citations"])
    assert kv["papers"] == 6 and kv["config"]["rank"]["alpha"] == 0.85
    assert not list((tmp_path / "out").glob(".*"))  # no temp files or checkpoints left


def test_integer_ids_stay_integers(tmp_path):
    write_parquet(tmp_path / "c.parquet", {"citing": [5, 6, 7], "cited": [6, 7, 5]})
    (tmp_path / "job.toml").write_text('[input]\ncitations = "c.parquet"\n[output]\ndir = "o"\n')
    assert runner.invoke(app, ["--config", str(tmp_path / "job.toml")]).exit_code == 0
    t = pq.read_table(tmp_path / "o" / "papers.parquet")
    assert t.schema.field("paper_id").type == pa.int64()
    assert sorted(t.column("paper_id").to_pylist()) == [5, 6, 7]
    np.testing.assert_allclose(t.column("score").to_numpy(), 1 / 3, atol=1e-12)


def test_known_errors_are_one_line_and_exit_1(tmp_path):
    job = make_job(tmp_path, seeds=False)
    job.write_text(job.read_text().replace("alpha = 0.85", "alpha = 1.5"))
    r = runner.invoke(app, ["--config", str(job)])
    assert r.exit_code == 1
    assert r.output.strip() == "error: [rank] alpha must be in (0, 1), got 1.5"
    write_parquet(tmp_path / "data" / "cit" / "part-1.parquet", {"citing": ["a", None], "cited": ["b", "c"]})
    job.write_text(job.read_text().replace("alpha = 1.5", "alpha = 0.5"))
    r = runner.invoke(app, ["--config", str(job), "--quiet"])
    assert r.exit_code == 1 and r.output.count("\n") == 1
    assert "part-1.parquet, column 'citing', row 1: null id" in r.output


def test_nonconvergence_error_and_warn(tmp_path):
    job = make_job(tmp_path, seeds=False)
    job.write_text(job.read_text().replace("tol = 1e-14", 'tol = 1e-14\nmax_iter = 2\nmethod = "power"'))
    r = runner.invoke(app, ["--config", str(job)])
    assert r.exit_code == 1 and "did not converge" in r.output and "'global'" in r.output
    assert not (tmp_path / "out" / "papers.parquet").exists()
    job.write_text(job.read_text().replace("max_iter = 2", 'max_iter = 2\non_nonconvergence = "warn"'))
    r = runner.invoke(app, ["--config", str(job)])
    assert r.exit_code == 0 and (tmp_path / "out" / "papers.parquet").exists()


@pytest.mark.slow
def test_console_script_runs(tmp_path):
    job = make_job(tmp_path, seeds=False)
    r = subprocess.run([sys.executable, "-m", "ranker.cli", "--config", str(job), "--quiet"], capture_output=True,
                       text=True)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "out" / "papers.parquet").exists()
    r = subprocess.run([sys.executable, "-m", "ranker.cli", "--config", str(tmp_path / "nope.toml")],
                       capture_output=True, text=True)
    assert r.returncode == 1 and r.stderr.strip().startswith("error: job file not found")
    assert "Traceback" not in r.stderr


def test_corrupt_file_through_the_cli_is_one_line(tmp_path):
    job = make_job(tmp_path, seeds=False)
    (tmp_path / "data" / "cit" / "part-1.parquet").write_bytes(b"PAR1 this is not parquet")
    r = runner.invoke(app, ["--config", str(job), "--quiet"])
    assert r.exit_code == 1 and r.output.count("\n") == 1
    assert "part-1.parquet: not a readable parquet file" in r.output
    assert not (tmp_path / "out" / "papers.parquet").exists()


def _catches_sigterm(pid: int) -> bool:
    """Whether the process has a SIGTERM handler installed (``SigCgt`` in /proc), i.e. ``main`` has started."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            caught = next(int(line.split()[1], 16) for line in fh if line.startswith("SigCgt:"))
    except (OSError, StopIteration):
        return False
    return bool(caught & (1 << (15 - 1)))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc to see when main() has started")
@pytest.mark.parametrize("sig", ["SIGINT", "SIGTERM"])
def test_a_signal_during_start_up_is_one_line_and_exit_130(tmp_path, sig):
    """From the moment main() runs (its first act installs the handlers), whenever the signal comes:
    importing typer and torch, parsing, loading the job or running it. Before that only the
    interpreter itself is starting, which no Python code can guard."""
    import signal
    import time

    job = make_job(tmp_path, seeds=False)
    for delay in (0.0, 0.05, 0.3, 0.8):
        proc = subprocess.Popen([sys.executable, "-c", "from ranker.cli import main; main()", "--config", str(job)],
                                stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        for _ in range(2000):
            if _catches_sigterm(proc.pid) or proc.poll() is not None:
                break
            time.sleep(0.005)
        time.sleep(delay)
        proc.send_signal(getattr(signal, sig))
        _, err = proc.communicate(timeout=120)
        if proc.returncode == 0:
            continue  # finished before the signal
        assert proc.returncode == 130, (delay, proc.returncode, err)
        assert err.strip().endswith("no partial output was left under a final name"), err
        assert "Traceback" not in err and err.count("error:") == 1, err


def test_batch_logs_show_progress_per_personalized_batch(tmp_path):
    job = make_job(tmp_path, seeds=True)
    job.write_text(job.read_text().replace("[personalize]", "[personalize]\nbatch_size = 1"))
    r = subprocess.run([sys.executable, "-m", "ranker.cli", "--config", str(job)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    lines = [ln for ln in r.stderr.splitlines() if "personalized batch" in ln]
    assert lines and "1/" in lines[0] and "seed sets" in lines[0] and "left" in lines[0], r.stderr


def test_validate_checks_everything_before_the_first_solve_and_writes_nothing(tmp_path):
    job = make_job(tmp_path)
    r = runner.invoke(app, ["validate", "--config", str(job)])
    assert r.exit_code == 0, r.output
    assert "ok: 6 papers" in r.output and "3 seed sets" in r.output and "nothing was written" in r.output
    assert not (tmp_path / "out").exists()
    write_parquet(tmp_path / "data" / "seeds.parquet", {"seed_set": ["s1"], "paper_id": ["nowhere"]})
    r = runner.invoke(app, ["validate", "--config", str(job)])
    assert r.exit_code == 1
    assert [ln for ln in r.output.splitlines() if ln.startswith("error:")] == [
        f"error: {tmp_path / 'data' / 'seeds.parquet'}, column 'paper_id', row 0: seed set 's1' names paper "
        "'nowhere', which is not in the citation graph"]
    assert not (tmp_path / "out").exists()


def test_set_overrides_a_key_and_is_validated_like_the_file(tmp_path):
    job = make_job(tmp_path, seeds=False)
    r = runner.invoke(app, ["--config", str(job), "--set", "rank.alpha=0.5", "--set", "output.ties=dense",
                            "--no-progress"])
    assert r.exit_code == 0, r.output
    meta = json.loads((tmp_path / "out" / "run.json").read_text())
    assert meta["config"]["rank"]["alpha"] == 0.5 and meta["config"]["output"]["ties"] == "dense"
    idx = {p: i for i, p in enumerate(PAPERS)}
    want = nx_pagerank(list(dict.fromkeys((idx[a], idx[b]) for a, b in EDGES)), len(PAPERS), alpha=0.5)
    got = dict(zip(*pq.read_table(tmp_path / "out" / "papers.parquet", columns=["paper_id", "score"]).to_pydict()
                   .values()))
    assert max(abs(got[p] - want[i]) for i, p in enumerate(PAPERS)) < 1e-9
    r = runner.invoke(app, ["--config", str(job), "--set", "rank.alpha=1.5"])
    assert r.exit_code == 1 and "error: [rank] alpha must be in (0, 1), got 1.5" in r.output
    r = runner.invoke(app, ["--config", str(job), "--set", "rank.nope=1"])
    assert r.exit_code == 1 and "nope" in r.output


def test_init_writes_a_template_that_runs_once_its_input_is_named(tmp_path):
    r = runner.invoke(app, ["init", str(tmp_path / "job.toml")])
    assert r.exit_code == 0, r.output
    write_parquet(tmp_path / "citations.parquet", {"citing": ["a", "b"], "cited": ["b", "c"]})
    assert runner.invoke(app, ["--config", str(tmp_path / "job.toml"), "--no-progress"]).exit_code == 0
    assert (tmp_path / "out" / "papers.parquet").exists()
    r = runner.invoke(app, ["init", str(tmp_path / "job.toml")])
    assert r.exit_code == 1 and "exists" in r.output


def test_help_version_and_literal_section_names():
    r = runner.invoke(app, ["-h"])
    assert r.exit_code == 0 and "[rank] device" in r.output and "<bool>" not in r.output
    assert "validate" in r.output and "init" in r.output
    r = runner.invoke(app, ["--version"])
    assert r.exit_code == 0 and r.output.startswith("rank-citations ")


def test_init_makes_a_missing_folder_and_refuses_an_unwritable_place(tmp_path):
    r = runner.invoke(app, ["init", str(tmp_path / "jobs" / "new" / "job.toml")])
    assert r.exit_code == 0 and (tmp_path / "jobs" / "new" / "job.toml").is_file(), r.output
    (tmp_path / "file").write_text("x")
    r = runner.invoke(app, ["init", str(tmp_path / "file" / "job.toml")])
    assert r.exit_code == 1 and r.output.startswith("error: cannot write") and "Traceback" not in r.output


def test_options_before_a_command_are_refused_not_ignored(tmp_path):
    job = make_job(tmp_path)
    r = runner.invoke(app, ["--device", "cpu", "validate", "--config", str(job)])
    assert r.exit_code == 2 and "--device before 'validate' would be ignored" in r.output
    r = runner.invoke(app, ["validate", "--config", str(job), "--device", "cpu"])
    assert r.exit_code == 0 and "\nok: 6 papers" in r.output, r.output
    r = runner.invoke(app, ["validate", "--config", str(job), "--device", "tpu"])
    assert r.exit_code == 1 and "[rank] device must be one of" in r.output


GC_PROBE = """
import atexit, gc, importlib.abc, importlib.util, sys
seen = {"start-up collections": 0}
def count(phase, info):
    if phase == "start" and info["generation"] == 2 and "enabled" not in seen:
        seen["start-up collections"] += 1
gc.callbacks.append(count)
def run_job(config, show_progress):  # stands in for the job: what the collector does while it runs
    seen["enabled"], seen["frozen"] = gc.isenabled(), gc.get_freeze_count()
    garbage = []
    garbage.append(garbage)  # a cycle made by the job
    del garbage
    seen["collected"] = gc.collect()
    seen["results"] = [[] for _ in range(5000)]  # objects alive when the job is done
class Standin(importlib.abc.MetaPathFinder):  # ranker.job is imported by main(), then its run_job replaced
    def find_spec(self, name, path, target=None):
        if name != "ranker.job":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        load = spec.loader.exec_module
        def exec_module(module):
            load(module)
            module.run_job = run_job
        spec.loader.exec_module = exec_module
        return spec
sys.meta_path.insert(0, Standin())
atexit.register(lambda: print(seen["start-up collections"], seen["enabled"], seen["frozen"], seen["collected"],
                              len(gc.get_objects())))
from ranker.cli import main
assert "torch" not in sys.modules
sys.argv = ["rank-citations", "--config", sys.argv[1]]
main()
"""


def test_the_console_process_freezes_start_up_objects_and_runs_the_job_with_the_collector_on(tmp_path):
    """main() pauses the collector while torch and the rest are imported, freezes what they made
    (hundreds of thousands of objects), runs the job with the collector on (a cycle it makes is
    collected), and freezes the rest before the interpreter shuts down."""
    job = make_job(tmp_path, seeds=False)
    r = subprocess.run([sys.executable, "-c", GC_PROBE, str(job)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    start_up_collections, enabled, frozen, collected, tracked_at_exit = r.stdout.split()
    assert start_up_collections == "0"
    assert enabled == "True"
    assert int(frozen) > 100_000  # torch alone makes more
    assert int(collected) >= 1
    assert int(tracked_at_exit) < 1000  # the job's 5,000 results were frozen too


def test_the_application_in_process_leaves_the_collector_alone(tmp_path):
    """A notebook or a test driving ``ranker.cli.app`` keeps its collector as it was."""
    import gc

    job = make_job(tmp_path, seeds=False)
    before = gc.get_freeze_count()
    r = runner.invoke(app, ["--config", str(job), "--no-progress"])
    assert r.exit_code == 0, r.output
    assert gc.isenabled() and gc.get_freeze_count() == before
