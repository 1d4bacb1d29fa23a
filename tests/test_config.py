"""Job-file validation: each bad job names the key or path."""

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from oracles import write_parquet
from ranker.config import load_config, parse_config
from ranker.errors import ConfigError
from ranker.io.output_dir import OutputDir


@pytest.fixture
def cit(tmp_path):
    return write_parquet(tmp_path / "c.parquet", {"citing": ["a"], "cited": ["b"]})


def job(cit, **sections):
    d = {"input": {"citations": cit}}
    for k, v in sections.items():
        d.setdefault(k, {}).update(v)
    return d


def test_defaults_and_relative_paths(tmp_path, cit):
    (tmp_path / "job.toml").write_text('[input]\ncitations = "c.parquet"\n[output]\ndir = "o"\n')
    cfg = load_config(tmp_path / "job.toml")
    assert cfg.input.citations == str(tmp_path / "c.parquet")
    assert cfg.output.dir == str(tmp_path / "o")
    assert cfg.rank.alpha == 0.85 and cfg.rank.tol == 1e-10 and cfg.rank.max_iter == 1000
    assert cfg.rank.device == "auto" and cfg.rank.dtype == "float64" and cfg.personalize is None


@pytest.mark.parametrize("sections,msg", [
    ({"rank": {"alpah": 0.5}}, r"unknown key \[rank\] alpah"),
    ({"rank": {"alpha": "high"}}, r"\[rank\] alpha must be a number"),
    ({"rank": {"alpha": 1.0}}, r"\[rank\] alpha must be in \(0, 1\)"),
    ({"rank": {"alpha": 0}}, r"\[rank\] alpha must be in \(0, 1\)"),
    ({"rank": {"tol": 0.0}}, r"\[rank\] tol must be a finite number > 0"),
    ({"rank": {"tol": -1e-9}}, r"\[rank\] tol must be a finite number > 0"),
    ({"rank": {"tol": float("inf")}}, r"\[rank\] tol must be a finite number > 0, got inf"),
    ({"rank": {"tol": float("nan")}}, r"\[rank\] tol must be a finite number > 0, got nan"),
    ({"input": {"batch_rows": 2**64}}, r"\[input\] batch_rows = 18446744073709551616 does not fit in 64 bits"),
    ({"rank": {"max_iter": 0}}, r"\[rank\] max_iter must be >= 1"),
    ({"rank": {"max_iter": 1.5}}, r"\[rank\] max_iter must be an integer"),
    ({"rank": {"max_iter": True}}, r"\[rank\] max_iter must be an integer"),
    ({"rank": {"device": "tpu"}}, r"\[rank\] device must be one of auto, cuda, cpu"),
    ({"rank": {"dtype": "float16"}}, r"\[rank\] dtype must be one of"),
    ({"input": {"duplicates": "twice"}}, r"\[input\] duplicates must be one of once, sum"),
    ({"personalize": {"top_k": 0, "seeds": "x"}}, r"\[personalize\] top_k must be >= 1"),
    ({"output": {"dir": 3}}, r"\[output\] dir must be a string"),
    ({"extra": {}}, r"unknown section \[extra\]"),
])
def test_bad_values_name_the_key(cit, sections, msg):
    with pytest.raises(ConfigError, match=msg):
        parse_config(job(cit, **sections))


def test_missing_paths(tmp_path, cit):
    with pytest.raises(ConfigError, match=r"\[input\] citations: no such file or directory .*nope.parquet"):
        parse_config({"input": {"citations": str(tmp_path / "nope.parquet")}})
    with pytest.raises(ConfigError, match=r"\[input\] citations: the glob .*\*.pq matches no file"):
        parse_config({"input": {"citations": str(tmp_path / "*.pq")}})
    with pytest.raises(ConfigError, match=r"\[input\] papers: no such file"):
        parse_config(job(cit, input={"papers": str(tmp_path / "p.parquet")}))
    with pytest.raises(ConfigError, match=r"\[personalize\] seeds: no such file"):
        parse_config(job(cit, personalize={"seeds": str(tmp_path / "s.parquet")}))
    with pytest.raises(ConfigError, match=r"\[input\] citations is required"):
        parse_config({"input": {}})
    with pytest.raises(ConfigError, match=r"job file not found"):
        load_config(tmp_path / "missing.toml")


def test_bad_toml(tmp_path):
    p = tmp_path / "job.toml"
    p.write_text("[input\ncitations = ")
    with pytest.raises(ConfigError, match=r"job.toml: not valid TOML"):
        load_config(p)


def test_glob_and_directory_inputs_are_sorted(tmp_path):
    for name in ("b.parquet", "a.parquet", "sub/c.parquet"):
        write_parquet(tmp_path / "d" / name, {"citing": ["a"], "cited": ["b"]})
    from ranker.io.listing import citation_files

    assert [Path(f).name for f in citation_files(str(tmp_path / "d"))] == ["a.parquet", "b.parquet", "c.parquet"]
    assert [Path(f).name for f in citation_files(str(tmp_path / "d" / "*.parquet"))] == ["a.parquet", "b.parquet"]


def test_output_dir_not_writable(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ConfigError, match=r"\[output\] dir .*file/out is not writable"):
        with OutputDir(str(blocker / "out")):
            pass


def test_synthetic_section_sets_paths(tmp_path):
    cfg = parse_config({"input": {"synthetic": {"papers": 100}}, "personalize": {}, "output": {"dir": "o"}},
                       base=tmp_path)
    assert cfg.input.citations == str(tmp_path / "o" / "data" / "citations")
    assert cfg.personalize.seeds == str(tmp_path / "o" / "data" / "seeds.parquet")
    with pytest.raises(ConfigError, match=r"unknown key \[input.synthetic\] size"):
        parse_config({"input": {"synthetic": {"size": 1}}})


def test_citing_and_cited_must_be_two_columns(cit):
    with pytest.raises(ConfigError, match="citing_column and cited_column are both 'x'"):
        parse_config(job(cit, input={"citing_column": "x", "cited_column": "x"}))


def test_tolerance_out_of_reach_of_float32_is_refused_before_solving(tmp_path):
    """float32 cannot resolve an L1 change of 1e-10 over thousands of papers (the run stalled at 7e-9)."""
    import numpy as np

    import ranker.job.local_engine as engines
    from ranker import run_job

    rng = np.random.default_rng(0)
    e = rng.integers(0, 3000, size=(20000, 2))
    write_parquet(tmp_path / "c.parquet", {"citing": e[:, 0], "cited": e[:, 1]})
    cfg = parse_config({"input": {"citations": "c.parquet"}, "rank": {"dtype": "float32", "device": "cpu"},
                        "output": {"dir": "o"}}, base=tmp_path)
    real = engines.solve
    engines.solve = lambda *a, **k: pytest.fail("solved")
    try:
        with pytest.raises(ConfigError, match=r"\[rank\] tol = 1e-10 cannot be reached in float32 over 3,000 papers"):
            run_job(cfg, show_progress=False)
    finally:
        engines.solve = real
    import torch

    from ranker.solvers.power import tolerance_floor

    ok = parse_config({"input": {"citations": "c.parquet"}, "output": {"dir": "o"},
                       "rank": {"dtype": "float32", "device": "cpu", "tol": tolerance_floor(torch.float32, 3000)}},
                      base=tmp_path)
    assert run_job(ok, show_progress=False).metadata["global"]["converged"]



@settings(max_examples=200, deadline=None)
@given(st.text(max_size=8))
def test_an_unknown_key_or_section_is_named_on_one_line_as_toml_writes_it(name):
    """Whatever the name holds (a newline, a quote, a control character, an emoji), the error is
    one line and the name in it reads back, as TOML, to the same key."""
    import dataclasses
    import re
    import tomllib

    from ranker.config import SECTIONS
    from ranker.config.sections import InputConfig

    cases = []
    if name not in {f.name for f in dataclasses.fields(InputConfig)}:
        cases.append(({"input": {"citations": "c.parquet", name: 0}}, r"unknown key \[input\] (.*); known keys"))
    if name not in SECTIONS:  # the job file's sections, and input.synthetic
        cases.append(({"input": {"citations": "c.parquet"}, name: {}}, r"unknown section \[(.*)\] in "))
    for data, pattern in cases:
        with pytest.raises(ConfigError) as err:
            parse_config(data)
        message = str(err.value)
        assert len(message.splitlines()) == 1, message
        written = re.match(pattern, message).group(1)
        assert tomllib.loads(f"{written} = 1") == {name: 1}
