"""report.html (ranker.report): written with the outputs, self-contained, and rendered by a real browser."""

from __future__ import annotations

import re
import shutil
import subprocess

import pyarrow as pa
import pytest

from oracles import write_parquet
from ranker import parse_config, run_job


def job(tmp_path, **output) -> dict:
    write_parquet(tmp_path / "c.parquet", {"citing": ["a", "a", "b", "c", "d"], "cited": ["b", "c", "c", "a", "a"]})
    write_parquet(tmp_path / "p.parquet", {"paper_id": list("abcde"), "year": pa.array([1999, 2000, 2001, 2002, 2003]),
                                           "title": ["<script>alert(1)</script>", "B & co", "C", "D", "E"]})
    write_parquet(tmp_path / "s.parquet", {"seed_set": ["reading list"], "paper_id": ["d"]})
    write_parquet(tmp_path / "a.parquet", {"paper_id": list("abcd"), "author": ["x", "y", "x", "z"]})
    return {"input": {"citations": "c.parquet", "papers": "p.parquet", "authorships": "a.parquet"},
            "rank": {"device": "cpu", "method": "power"}, "personalize": {"seeds": "s.parquet", "top_k": 3},
            "output": {"dir": "out", **output}}


def test_the_report_shows_the_run_and_fetches_nothing(tmp_path):
    result = run_job(parse_config(job(tmp_path), base=tmp_path), show_progress=False)
    page = (tmp_path / "out" / "report.html").read_text()
    assert result.outputs["report"] == str(tmp_path / "out" / "report.html")
    for heading in ("Top papers", "Scores", "Convergence", "Seed sets", "Authors", "Stages"):
        assert f"<h2>{heading}</h2>" in page
    assert "top papers of reading list" in page
    assert len(re.findall(r"src='data:image/png;base64,", page)) == 3  # distribution, year, convergence
    assert not re.search(r"(src|href)=['\"]?https?:", page)  # self-contained
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "B &amp; co" in page
    assert f"<dd>{result.metadata['global']['iterations']}</dd>" in page


def test_report_false_writes_none(tmp_path):
    result = run_job(parse_config(job(tmp_path, report=False), base=tmp_path), show_progress=False)
    assert not (tmp_path / "out" / "report.html").exists() and "report" not in result.outputs


BROWSER = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


@pytest.mark.skipif(BROWSER is None, reason="no headless Chromium here (Debian: apt-get install chromium)")
def test_a_real_browser_renders_the_report(tmp_path):
    run_job(parse_config(job(tmp_path), base=tmp_path), show_progress=False)
    shot = tmp_path / "report.png"
    done = subprocess.run([BROWSER, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                           "--window-size=1200,2400", f"--screenshot={shot}",
                           (tmp_path / "out" / "report.html").as_uri()], capture_output=True, text=True, timeout=120)
    assert shot.exists() and shot.stat().st_size > 50_000, done.stderr[-2000:]
    # a rendered page is not blank: many distinct colours (text, tables, plotted points)
    import numpy as np
    from matplotlib.image import imread

    pixels = imread(shot)[..., :3].reshape(-1, 3)
    assert len(np.unique((pixels * 255).astype(np.uint8), axis=0)) > 50


def test_the_report_shows_trajectories_and_percentiles(tmp_path):
    cfg = job(tmp_path, normalize_by=["year"])
    cfg["trajectories"] = {"top_k": 0}
    run_job(parse_config(cfg, base=tmp_path), show_progress=False)
    page = (tmp_path / "out" / "report.html").read_text()
    for heading in ("Through time", "Percentiles within year and field"):
        assert f"<h2>{heading}</h2>" in page
    assert "<h3>Rose most from 1999 to 2003</h3>" in page and "<h3>Under-rated by citation counts</h3>" in page
    # distribution, year, percentiles, trajectories, convergence
    assert len(re.findall(r"src='data:image/png;base64,", page)) == 5
