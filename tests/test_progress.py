"""Stage timings and per-stage peak memory (ranker.progress.StageTimes)."""

import time

import numpy as np

import ranker.progress as progress
from ranker.progress import StageTimes, peak_rss, rss


def test_each_stage_gets_its_own_peak_an_outer_stage_includes_its_inner_ones_and_the_kernel_mark_stays(monkeypatch):
    monkeypatch.setattr(progress, "SAMPLE_S", 0.005)  # each allocation below is held for 40 samples
    st = StageTimes()
    base = rss()
    with st("outer"):
        a = np.ones(40_000_000)  # 320 MB, touched
        time.sleep(0.2)
        del a
        with st("inner"):
            b = np.ones(15_000_000)  # 120 MB
            time.sleep(0.2)
            del b
    with st("later"):
        time.sleep(0.05)
    inner, outer, later = st.peak_bytes["inner"], st.peak_bytes["outer"], st.peak_bytes["later"]
    assert 100e6 < inner - base < 250e6, (inner, base)
    assert outer - base > 300e6 and outer > inner
    assert later - base < 100e6  # the 320 MB of the earlier stage are not counted again
    assert peak_rss() >= outer - 4e6  # the high-water mark (/usr/bin/time -v) is never reset (it lags a little)
    assert set(st.seconds) == {"inner", "outer", "later"}
