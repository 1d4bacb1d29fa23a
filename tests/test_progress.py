"""Stage timings and per-stage peak memory (ranker.progress.StageTimes)."""

import gc
import mmap
import time

import numpy as np

import ranker.progress as progress
from ranker.progress import MemorySampler, StageTimes, peak_rss, rss


def touched(nbytes: int) -> mmap.mmap:
    """An anonymous mapping of ``nbytes`` with every page written: resident until it is closed.

    A mapping of its own, not a numpy array: an allocator may serve an array from memory the
    process already holds, and then the resident size does not move.
    """
    block = mmap.mmap(-1, nbytes)
    view = np.frombuffer(block, dtype=np.uint8)
    view[:] = 1
    del view
    return block


def hold_until_sampled(count: int = 3, timeout_s: float = 30.0) -> None:
    """Wait until the sampler thread has taken ``count`` more samples (however loaded the machine)."""
    sampler = MemorySampler.shared()
    goal = sampler.samples + count
    deadline = time.monotonic() + timeout_s
    while sampler.samples < goal:
        assert time.monotonic() < deadline, f"the memory sampler took no {count} samples in {timeout_s} s"
        time.sleep(0.005)


def test_each_stage_gets_its_own_peak_an_outer_stage_includes_its_inner_ones_and_the_kernel_mark_stays(monkeypatch):
    monkeypatch.setattr(progress, "SAMPLE_S", 0.005)
    st = StageTimes()
    gc.collect()
    gc.disable()  # no collection of earlier tests' garbage moves the resident size mid-test
    try:
        before_outer = rss()
        with st("outer"):
            a = touched(320_000_000)
            hold_until_sampled()
            a.close()  # freed before the stage ends: only a sample saw it
            before_inner = rss()
            with st("inner"):
                b = touched(120_000_000)
                hold_until_sampled()
                b.close()
        before_later = rss()
        with st("later"):
            hold_until_sampled()
    finally:
        gc.enable()
    inner, outer, later = st.peak_bytes["inner"], st.peak_bytes["outer"], st.peak_bytes["later"]
    assert 100e6 < inner - before_inner < 250e6, (inner, before_inner)
    assert outer - before_outer > 300e6 and outer > inner, (outer, before_outer, inner)
    assert later - before_later < 100e6, (later, before_later)  # the 320 MB of the earlier stage are not counted again
    assert peak_rss() >= outer - 4e6  # the high-water mark (/usr/bin/time -v) is never reset (it lags a little)
    assert set(st.seconds) == {"inner", "outer", "later"}


def test_the_sampler_stops_looking_when_no_stage_is_watched(monkeypatch):
    monkeypatch.setattr(progress, "SAMPLE_S", 0.005)
    st = StageTimes()
    with st("busy"):
        hold_until_sampled()
    time.sleep(0.3)  # the thread finishes the sample it was in, however loaded the machine
    idle_from = MemorySampler.shared().samples
    time.sleep(0.1)  # twenty sample periods
    assert MemorySampler.shared().samples == idle_from
