"""Stage timings and per-stage peak memory (ranker.progress.StageTimes)."""

import numpy as np

from ranker.progress import StageTimes, peak_rss, reset_peak_rss


def test_each_stage_gets_its_own_peak_and_an_outer_stage_includes_its_inner_ones():
    if not reset_peak_rss():  # pragma: no cover - not Linux
        return
    st = StageTimes()
    base = peak_rss()
    with st("outer"):
        a = np.ones(40_000_000)  # 320 MB, touched
        del a
        with st("inner"):
            b = np.ones(15_000_000)  # 120 MB
            del b
    with st("later"):
        pass
    inner, outer, later = st.peak_bytes["inner"], st.peak_bytes["outer"], st.peak_bytes["later"]
    assert 100e6 < inner - base < 250e6, (inner, base)
    assert outer - base > 300e6 and outer > inner
    assert later - base < 100e6  # the 320 MB of the earlier stage are not counted again
    assert set(st.seconds) == {"inner", "outer", "later"}
