"""The tests mirror the package: each module has a test file of its name in the folder of its package,
or is listed below with the test files that check it (a module tested through the job, or beside
the module it serves). A new module without either fails here, and so does a stale entry."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: Modules checked in test files of another name, and where.
TESTED_IN = {
    "kernels/condensation.py": ["kernels/test_sweep.py"],  # the plan against scipy and Kahn
    "kernels/csr_build.py": ["test_graph.py"],  # the counted build against the sorted one and build_graph
    "kernels/id_parse.py": ["io/test_id_patterns.py"],
    # a hint: the kernels that use it, against their references
    "kernels/prefetch.py": ["kernels/test_sweep.py", "test_graph.py", "kernels/test_numbering.py"],
    "kernels/snapshot_sweep.py": ["solvers/test_snapshots.py"],
    "kernels/step_cpu.py": ["kernels/test_step.py"],
    "ranker/choices.py": ["test_config.py"],
    "ranker/config/parse.py": ["test_config.py", "test_fuzz.py"],
    "ranker/config/reference.py": ["test_docs.py", "test_cli.py"],
    "ranker/config/sections.py": ["test_config.py", "test_docs.py"],
    "ranker/devices.py": ["test_config.py", "kernels/test_triton_step.py"],
    "ranker/errors.py": ["test_cli.py"],
    "ranker/graph_build.py": ["test_graph.py"],
    "ranker/io/citations.py": ["io/test_inputs.py", "io/test_formats.py"],
    "ranker/io/id_numbering.py": ["io/test_inputs.py", "io/test_id_patterns.py"],
    "ranker/io/ids.py": ["io/test_id_patterns.py", "test_dense_ids.py"],
    "ranker/io/listing.py": ["io/test_formats.py", "test_config.py"],
    "ranker/io/outputs.py": ["io/test_output_dir.py"],
    "ranker/io/pair_rows.py": ["io/test_formats.py"],
    "ranker/io/sources.py": ["io/test_inputs.py"],
    "ranker/io/text_batches.py": ["io/test_formats.py", "kernels/test_json_depth.py"],
    "ranker/job/authors.py": ["solvers/test_author_rankers.py", "test_registry.py"],
    "ranker/job/batches.py": ["job/test_trajectories.py", "io/test_checkpoints.py"],
    "ranker/job/checks.py": ["test_cli.py", "test_fuzz.py"],
    "ranker/job/context.py": ["job/test_stages.py"],
    "ranker/job/engines.py": ["test_seams.py"],
    "ranker/job/exclusions.py": ["job/test_credit.py", "solvers/test_author_rankers.py"],
    "ranker/job/local_engine.py": ["job/test_stages.py", "job/test_runner.py"],
    "ranker/job/partitioned_engine.py": ["parallel/test_distributed.py", "test_seams.py"],
    "ranker/job/personalize.py": ["io/test_checkpoints.py", "job/test_runner.py"],
    "ranker/job/ranking.py": ["solvers/test_paper_rankers.py", "test_registry.py"],
    "ranker/job/solve_options.py": ["job/test_runner.py", "job/test_estimate.py"],
    "ranker/parallel/comm.py": ["parallel/test_distributed.py", "test_seams.py"],
    "ranker/parallel/distributed_power.py": ["parallel/test_distributed.py"],
    "ranker/parallel/ingest.py": ["parallel/test_distributed.py"],
    "ranker/parallel/partition.py": ["parallel/test_distributed.py"],
    "ranker/parallel/spawn.py": ["parallel/test_distributed.py"],
    "ranker/solvers/choose.py": ["solvers/test_dag.py", "solvers/test_power.py"],
    "ranker/solvers/components.py": ["kernels/test_sweep.py", "solvers/test_dag.py"],
    "ranker/solvers/iteration.py": ["solvers/test_power.py"],
}


def _modules() -> list[str]:
    found = [p for p in (ROOT / "ranker").rglob("*.py")] + list((ROOT / "kernels").glob("*.py"))
    return sorted(str(p.relative_to(ROOT)) for p in found if p.name != "__init__.py")


def _own_test(module: str) -> Path:
    """``ranker/io/formats.py`` -> ``tests/io/test_formats.py``; ``kernels/x.py`` -> ``tests/kernels/test_x.py``."""
    parts = Path(module).parts
    folder = parts[1:-1] if parts[0] == "ranker" else parts[:-1]
    return ROOT.joinpath("tests", *folder, f"test_{Path(module).stem}.py")


def test_every_module_has_its_test_file_or_says_where_it_is_tested():
    missing = [m for m in _modules() if not _own_test(m).exists() and m not in TESTED_IN]
    assert not missing, f"modules with no test file of their name and no entry in TESTED_IN: {missing}"


def test_the_map_names_real_modules_and_test_files_and_nothing_twice():
    modules = set(_modules())
    for module, files in TESTED_IN.items():
        assert module in modules, f"{module} is no module"
        assert not _own_test(module).exists(), f"{module} has its own test file now: take it out of TESTED_IN"
        for f in files:
            assert (ROOT / "tests" / f).is_file(), f"{module}: no test file tests/{f}"


def test_test_files_keep_distinct_names():
    """pytest's default import mode finds a test file by its name (the spawned gloo workers import them
    again by that name), so two files may not share one."""
    names = [p.name for p in (ROOT / "tests").rglob("test_*.py")]
    assert len(names) == len(set(names))
