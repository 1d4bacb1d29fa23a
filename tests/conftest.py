"""Fixtures shared by the tests."""

import pytest

from oracles import HEPTH


@pytest.fixture
def hepth():
    """The shared hep-th data folder; the test is skipped (with the reason) when it is absent."""
    if not (HEPTH / "citations.parquet").is_file():
        pytest.skip(f"shared hep-th data not found at {HEPTH}: the KDD Cup 2003 arXiv hep-th graph (SNAP cit-HepTh) "
                    "as parquet, see scripts/shared_data.py")
    return HEPTH


@pytest.fixture(autouse=True)
def compiled_kernels(monkeypatch):
    """Every graph runs the compiled kernels, as a large job does (a job below
    ``ranker.kernels.COMPILED_MIN`` citations runs their references, which the kernel tests check
    them against; tests/test_small_jobs.py runs that default)."""
    monkeypatch.setattr("ranker.kernels.COMPILED_MIN", 0)
