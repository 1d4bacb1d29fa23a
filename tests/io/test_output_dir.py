"""The output directory: never an input, locked for one job, swept of this tool's temp files only,
no link followed, a full disk reported in one line with nothing lost."""

import errno
import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import ranker.io.outputs as io_outputs
import ranker.job.local_engine as engines
import ranker.job.personalize as personalize_module
from oracles import write_parquet
from ranker import parse_config, run_job
from ranker.errors import ConfigError, OutputError
from ranker.io.output_dir import LOCK_NAME, OutputDir


def small_job(tmp_path, out, **extra):
    data = tmp_path / "data"
    if not (data / "citations.parquet").exists():
        write_parquet(data / "citations.parquet", {"citing": ["a", "a", "b", "c"], "cited": ["b", "c", "c", "a"]})
        write_parquet(data / "papers.parquet", {"paper_id": ["a", "b", "c", "d"], "year": [2000, 2001, 2002, 2003]})
        write_parquet(data / "seeds.parquet", {"seed_set": ["s", "t"], "paper_id": ["a", "b"]})
    job = {"input": {"citations": str(data / "citations.parquet"), "papers": str(data / "papers.parquet")},
           "rank": {"device": "cpu"}, "personalize": {"seeds": str(data / "seeds.parquet"), "top_k": 3},
           "output": {"dir": str(out)}}
    for section, values in extra.items():
        job.setdefault(section, {}).update(values)
    return parse_config(job)


def test_output_dir_equal_to_input_dir_is_refused_before_any_work(tmp_path, monkeypatch):
    cfg = small_job(tmp_path, tmp_path / "data")
    before = (tmp_path / "data" / "papers.parquet").read_bytes()
    monkeypatch.setattr(engines, "read_citations", lambda *a, **k: pytest.fail("ingest ran"))
    with pytest.raises(ConfigError, match=r"papers.parquet would overwrite the input file .*data/papers.parquet"):
        run_job(cfg, show_progress=False)
    assert (tmp_path / "data" / "papers.parquet").read_bytes() == before
    assert pq.read_table(tmp_path / "data" / "papers.parquet").column_names == ["paper_id", "year"]


def test_output_dir_reaching_an_input_through_a_link_is_refused(tmp_path):
    small_job(tmp_path, tmp_path / "x")
    (tmp_path / "alias").symlink_to(tmp_path / "data")
    with pytest.raises(ConfigError, match="would overwrite the input file"):
        run_job(small_job(tmp_path, tmp_path / "alias"), show_progress=False)


def test_output_dir_inside_a_citations_directory_is_refused(tmp_path):
    write_parquet(tmp_path / "cites" / "part-0.parquet", {"citing": ["a"], "cited": ["b"]})
    cfg = parse_config({"input": {"citations": str(tmp_path / "cites")}, "output": {"dir": str(tmp_path / "cites")}})
    with pytest.raises(ConfigError, match="lies in the input directory"):
        run_job(cfg, show_progress=False)
    assert sorted(p.name for p in (tmp_path / "cites").iterdir()) == ["part-0.parquet"]


def test_synthetic_dir_equal_to_output_dir_is_refused(tmp_path):
    cfg = parse_config({"input": {"synthetic": {"papers": 200, "dir": str(tmp_path / "o")}},
                        "output": {"dir": str(tmp_path / "o")}})
    with pytest.raises(ConfigError, match="would overwrite the input file .*o/papers.parquet"):
        run_job(cfg, show_progress=False)


def test_sweep_removes_only_this_tools_temp_files_at_the_top(tmp_path):
    out = tmp_path / "out"
    (out / "sub").mkdir(parents=True)
    user_files = [out / "notes.rank-citations.tmp", out / "sub" / ".papers.parquet.abcdefgh.rank-citations.tmp",
                  out / ".mine.parquet.abcdefgh.rank-citations.tmp"]
    for f in user_files:
        f.write_text("a user's file")
    stale = out / ".papers.parquet.k2j4h5g6.rank-citations.tmp"
    stale.write_text("left by a killed run")
    run_job(small_job(tmp_path, out), show_progress=False)
    assert all(f.read_text() == "a user's file" for f in user_files)
    assert not stale.exists()


def test_a_second_job_on_the_same_directory_is_refused_with_the_first_ones_pid(tmp_path):
    out = tmp_path / "out"
    with OutputDir(out):
        assert (out / LOCK_NAME).read_text().strip() == str(os.getpid())
        with pytest.raises(OutputError, match=rf"dir .*out is in use by a running job \(pid {os.getpid()}\)"):
            run_job(small_job(tmp_path, out), show_progress=False)
    run_job(small_job(tmp_path, out), show_progress=False)  # released: the next job runs
    assert not (out / LOCK_NAME).exists()


def test_lock_held_by_another_process(tmp_path):
    out = tmp_path / "out"
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from ranker.io.output_dir import OutputDir\n"
        f"with OutputDir({str(out)!r}):\n    print('held', flush=True); sys.stdin.read()")],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(OutputError, match=rf"in use by a running job \(pid {holder.pid}\)"):
            run_job(small_job(tmp_path, out), show_progress=False)
    finally:
        holder.communicate("", timeout=60)
    run_job(small_job(tmp_path, out), show_progress=False)


def test_planted_links_are_never_followed(tmp_path, monkeypatch):
    out = tmp_path / "out"
    out.mkdir()
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    monkeypatch.setattr(os, "getpid", lambda: 4242)
    (out / ".write-probe-4242").symlink_to(victim)  # the old predictable probe name
    run_job(small_job(tmp_path, out), show_progress=False)
    assert victim.read_text() == "precious"
    (out / LOCK_NAME).symlink_to(victim)
    with pytest.raises(OutputError, match="is a symbolic link; refusing to follow it"):
        run_job(small_job(tmp_path, out), show_progress=False)
    assert victim.read_text() == "precious"


def test_disk_full_is_one_line_and_keeps_the_previous_run(tmp_path, monkeypatch):
    out = tmp_path / "out"
    run_job(small_job(tmp_path, out), show_progress=False)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    real = pq.ParquetWriter.write_table

    def full(writer, table, *a, **kw):
        if "seed_set" in table.column_names:  # a personalized checkpoint
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(writer, table, *a, **kw)

    monkeypatch.setattr(io_outputs.pq.ParquetWriter, "write_table", full)
    with pytest.raises(OutputError) as info:
        run_job(small_job(tmp_path, out, rank={"alpha": 0.6}), show_progress=False)
    msg = str(info.value)
    assert "\n" not in msg and str(out) in msg and "no space left on the device" in msg and "MB needed" in msg
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # the earlier complete run, untouched


def test_too_little_space_for_the_personalized_results_is_refused_before_solving(tmp_path, monkeypatch):
    monkeypatch.setattr(personalize_module, "free_bytes", lambda d: 10)
    solved = []
    real = engines.solve
    monkeypatch.setattr(engines, "solve", lambda *a, **k: solved.append(1) or real(*a, **k))
    with pytest.raises(OutputError, match=r"not enough free space for the personalized results: about .* MB needed"):
        run_job(small_job(tmp_path, tmp_path / "out"), show_progress=False)
    assert len(solved) == 1  # the global solve only: no seed batch was started


def test_unwritable_checkpoint_directory_is_one_line(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / ".checkpoint").write_text("a file where the checkpoint directory goes")
    with pytest.raises(OutputError, match=r"\.checkpoint/personalized-[0-9a-f]{16}: cannot create or write the "
                                          "checkpoint"):
        run_job(small_job(tmp_path, out), show_progress=False)


def test_failed_job_leaves_the_previous_complete_run(tmp_path, monkeypatch):
    """A job re-run with other parameters and interrupted while personalizing keeps the old run whole."""
    out = tmp_path / "out"
    run_job(small_job(tmp_path, out), show_progress=False)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    import ranker.job.stages as stages

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(stages, "rank_seed_sets", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_job(small_job(tmp_path, out, rank={"alpha": 0.6}), show_progress=False)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert json.loads((out / "run.json").read_text())["config"]["rank"]["alpha"] == 0.85


def test_seeds_naming_no_paper_leave_no_new_papers_file(tmp_path):
    out = tmp_path / "out"
    write_parquet(tmp_path / "bad_seeds.parquet", {"seed_set": ["s"], "paper_id": ["zzz"]})
    cfg = small_job(tmp_path, out, personalize={"seeds": str(tmp_path / "bad_seeds.parquet")})
    with pytest.raises(Exception, match="zzz"):
        run_job(cfg, show_progress=False)
    assert not (out / "papers.parquet").exists()


def test_exclude_ids_covering_every_paper_is_one_line(tmp_path):
    cfg = small_job(tmp_path, tmp_path / "out", output={"exclude_ids": ["a", "b", "c", "d"]})
    with pytest.raises(ConfigError, match="exclude_ids covers all 4 papers"):
        run_job(cfg, show_progress=False)


def test_empty_output_dir_keeps_exclude_ids(tmp_path):
    write_parquet(tmp_path / "c.parquet", {"citing": ["a"], "cited": ["b"]})
    cfg = parse_config({"input": {"citations": "c.parquet"}, "output": {"dir": "", "exclude_ids": ["w"]}},
                       base=tmp_path)
    assert cfg.output.exclude_ids == ("w",) and cfg.output.dir == str(tmp_path)


def test_output_of_a_dictionary_encoded_table_has_plain_columns(tmp_path):
    out = tmp_path / "out"
    cites = pa.table({"citing": pa.array(["a", "b"]).dictionary_encode(),
                      "cited": pa.array(["b", "c"]).dictionary_encode()})
    pq.write_table(cites, tmp_path / "d.parquet")
    run_job(parse_config({"input": {"citations": str(tmp_path / "d.parquet")}, "output": {"dir": str(out)}}),
            show_progress=False)
    papers = pq.read_table(out / "papers.parquet")
    assert papers.schema.field("paper_id").type == pa.string() and papers.num_rows == 3


def _snapshot(out):
    return {p.name: p.read_bytes() for p in out.iterdir() if p.is_file() and p.name != LOCK_NAME}


@pytest.mark.parametrize("failing", ["papers.parquet", "personalized.parquet", "report.html", "run.json"])
def test_a_rename_failing_during_the_commit_leaves_exactly_the_old_run(tmp_path, monkeypatch, failing):
    """One rename of the commit fails (an immutable file, a full disk...): the directory holds the
    previous run byte for byte, nothing of the new one, and the error is one line."""
    out = tmp_path / "out"
    run_job(small_job(tmp_path, out), show_progress=False)
    before = _snapshot(out)
    real = os.replace

    def replace(src, dst, *a, **k):
        if str(dst).endswith("/" + failing) and ".rank-citations.tmp" in str(src):
            raise PermissionError(errno.EPERM, "Operation not permitted", str(dst))
        return real(src, dst, *a, **k)

    monkeypatch.setattr(io_outputs.os, "replace", replace)
    with pytest.raises(OutputError, match=r"could not put the new outputs in place .*previous run's files are back"):
        run_job(small_job(tmp_path, out, rank={"alpha": 0.6}), show_progress=False)
    assert _snapshot(out) == before
    # no backup and no temp file (the checkpoints stay for a resume)
    assert sorted(p.name for p in out.iterdir() if p.name.startswith(".")) == [".checkpoint"]


def test_moving_the_old_run_aside_failing_leaves_it_in_place(tmp_path, monkeypatch):
    out = tmp_path / "out"
    run_job(small_job(tmp_path, out), show_progress=False)
    before = _snapshot(out)
    real = os.replace

    def replace(src, dst, *a, **k):
        if str(src).endswith("/personalized.parquet"):  # the old file cannot be moved (immutable)
            raise PermissionError(errno.EPERM, "Operation not permitted", str(src))
        return real(src, dst, *a, **k)

    monkeypatch.setattr(io_outputs.os, "replace", replace)
    with pytest.raises(OutputError, match="previous run's files are back"):
        run_job(small_job(tmp_path, out, rank={"alpha": 0.6}), show_progress=False)
    assert _snapshot(out) == before


def test_a_directory_where_an_output_goes_is_one_line_and_nothing_changes(tmp_path):
    out = tmp_path / "out"
    run_job(small_job(tmp_path, out), show_progress=False)
    (out / "credit.parquet").mkdir()  # an output name this job does not write, but would remove
    (out / "credit.parquet" / "keep.txt").write_text("the user's")
    before = _snapshot(out)
    with pytest.raises(OutputError, match=r"credit.parquet is a directory where the job writes a file"):
        run_job(small_job(tmp_path, out, rank={"alpha": 0.6}), show_progress=False)
    assert _snapshot(out) == before and (out / "credit.parquet" / "keep.txt").read_text() == "the user's"


@pytest.mark.parametrize("killed_after", [0, 1, 3, 4, 6, 7, 8])
def test_a_commit_killed_half_way_is_undone_or_finished_by_the_next_job(tmp_path, monkeypatch, killed_after):
    """A kill -9 at any rename of the commit: the next job in the directory finds exactly one whole
    run (the old one when the new run.json was not in place yet, else the new one), then runs."""
    out = tmp_path / "out"
    run_job(small_job(tmp_path, out), show_progress=False)
    old = _snapshot(out)
    real, calls = os.replace, []

    def replace(src, dst, *a, **k):
        src, dst = Path(src), Path(dst)
        moving = dst.parent.name.startswith(".previous-run-") and dst.name != "journal.json"
        placing = dst.parent == out and src.name.endswith(".rank-citations.tmp")
        if moving or placing:
            calls.append(dst.name)
            if len(calls) > killed_after:
                raise _Killed
        return real(src, dst, *a, **k)

    def rmtree(path, *a, **k):  # killed after the last rename, before the previous run was deleted
        raise _Killed

    monkeypatch.setattr(io_outputs.os, "replace", replace)
    monkeypatch.setattr(io_outputs.shutil, "rmtree", rmtree)
    monkeypatch.setattr(io_outputs, "_undo", lambda *a, **k: None)  # a kill runs no clean-up
    with pytest.raises(_Killed):
        run_job(small_job(tmp_path, out, rank={"alpha": 0.6}), show_progress=False)
    monkeypatch.undo()
    (out / LOCK_NAME).unlink(missing_ok=True)
    with OutputDir(out):  # what the next job does first
        pass
    now = _snapshot(out)
    assert not [p for p in out.iterdir() if p.name.startswith(".previous-run-")]
    alpha = json.loads(now["run.json"])["config"]["rank"]["alpha"]
    assert (alpha == 0.85) == (killed_after < 8)  # 4 old files moved aside, then 4 new placed, run.json last
    if alpha == 0.85:
        assert now == old
    else:  # the commit had finished: every file is the new run's
        assert set(now) == set(old) and all(now[name] != old[name] for name in now if name != "report.html")


class _Killed(BaseException):
    pass


def test_exclude_ids_that_match_nothing_are_named_before_any_solve(tmp_path, monkeypatch):
    monkeypatch.setattr(engines, "solve", lambda *a, **k: pytest.fail("solved"))
    cfg = small_job(tmp_path, tmp_path / "out", output={"exclude_ids": ["a", "typo", 7]})
    with pytest.raises(ConfigError, match=r"exclude_ids: 2 of 3 entries match no paper of the job: 'typo', 7"):
        run_job(cfg, show_progress=False)


def test_exclude_ids_given_as_integers_match_text_ids_and_the_other_way(tmp_path):
    write_parquet(tmp_path / "c.parquet", {"citing": ["5", "6", "7"], "cited": ["6", "7", "5"]})
    cfg = parse_config({"input": {"citations": "c.parquet"}, "rank": {"device": "cpu"},
                        "output": {"dir": "o", "exclude_ids": [5]}}, base=tmp_path)
    res = run_job(cfg, show_progress=False)
    assert sorted(res.papers.column("paper_id").to_pylist()) == ["6", "7"]
    assert abs(sum(res.papers.column("share").to_pylist()) - 1) < 1e-12
    write_parquet(tmp_path / "i.parquet", {"citing": [5, 6, 7], "cited": [6, 7, 5]})
    cfg = parse_config({"input": {"citations": "i.parquet"}, "rank": {"device": "cpu"},
                        "output": {"dir": "o2", "exclude_ids": ["5"]}}, base=tmp_path)
    assert sorted(run_job(cfg, show_progress=False).papers.column("paper_id").to_pylist()) == [6, 7]


def test_exclude_ids_that_are_no_integer_are_named_for_integer_ids(tmp_path):
    write_parquet(tmp_path / "i.parquet", {"citing": [5, 6], "cited": [6, 7]})
    cfg = parse_config({"input": {"citations": "i.parquet"}, "output": {"dir": "o", "exclude_ids": ["+-5", "five"]}},
                       base=tmp_path)
    with pytest.raises(ConfigError, match=r"2 of 2 entries match no paper of the job: '\+-5', 'five'"):
        run_job(cfg, show_progress=False)


def test_exclude_ids_may_name_authors(tmp_path):
    small_job(tmp_path, tmp_path / "x")
    write_parquet(tmp_path / "data" / "auth.parquet", {"paper_id": ["a", "b"], "author": ["ann", "bob"]})
    cfg = small_job(tmp_path, tmp_path / "out", input={"authorships": str(tmp_path / "data" / "auth.parquet")},
                    output={"exclude_ids": ["a", "bob"]})
    res = run_job(cfg, show_progress=False)
    assert res.authors.column("author").to_pylist() == ["ann"] and "a" not in res.papers.column("paper_id").to_pylist()
    bad = small_job(tmp_path, tmp_path / "out2", input={"authorships": str(tmp_path / "data" / "auth.parquet")},
                    output={"exclude_ids": ["carol"]})
    with pytest.raises(ConfigError, match="1 of 1 entries match no paper or author of the job: 'carol'"):
        run_job(bad, show_progress=False)


def test_personalized_lists_only_papers_the_seed_set_reaches(tmp_path):
    """Seeded on d (no citations either way): one row, not d and three zero-score papers by id."""
    small_job(tmp_path, tmp_path / "x")
    write_parquet(tmp_path / "data" / "seeds.parquet", {"seed_set": ["s", "t"], "paper_id": ["a", "d"]})
    res = run_job(small_job(tmp_path, tmp_path / "out"), show_progress=False)
    pers = res.personalized.to_pylist()
    assert [(r["seed_set"], r["paper_id"], r["rank"]) for r in pers if r["seed_set"] == "t"] == [("t", "d", 1)]
    assert all(r["score"] > 0 for r in pers) and len([r for r in pers if r["seed_set"] == "s"]) == 3


def test_a_table_written_in_slices_is_staged_whole_or_not_at_all(tmp_path):
    """write_parquet_batches_atomic: one row group per slice, later slices cast to the first's schema,
    the metadata in the footer; staged until the commit (read back from the temp file before it);
    a slice that fails leaves no file, temp or final."""
    from ranker.io import StagedOutputs, WrittenTable, write_parquet_batches_atomic

    slices = [pa.table({"paper_id": pa.array(["a", "b"]), "score": [0.5, 0.25]}),
              pa.table({"paper_id": pa.array(["c"], pa.large_string()), "score": [0.125]})]
    path = tmp_path / "papers.parquet"
    with StagedOutputs() as staging:
        write_parquet_batches_atomic(iter(slices), path, {"run": 1}, staging=staging)
        assert not path.exists()
        early = WrittenTable(path, staging).read()
        staging.commit()
    f = pq.ParquetFile(path)
    assert f.metadata.num_row_groups == 2 and json.loads(f.schema_arrow.metadata[b"rank_citations"]) == {"run": 1}
    whole = pa.table({"paper_id": ["a", "b", "c"], "score": [0.5, 0.25, 0.125]})
    assert early.equals(whole) and WrittenTable(path, staging).read().equals(whole)

    def failing():
        yield slices[0]
        raise RuntimeError("a slice failed")

    with pytest.raises(RuntimeError, match="a slice failed"):
        write_parquet_batches_atomic(failing(), tmp_path / "other.parquet")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["papers.parquet"]
