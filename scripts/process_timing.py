"""A whole process timed as a user runs it: ``/usr/bin/time -v`` around the command (the benchmarks' one way)."""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import dataclass


@dataclass
class Timed:
    """What ``/usr/bin/time -v`` said of a process, with its output."""

    stdout: str
    stderr: str
    seconds: float  # wall clock
    rss: int  # peak resident set, bytes


def time_process(cmd: list[str]) -> Timed:
    """Run ``cmd`` under ``/usr/bin/time -v``; exit with its last lines when it fails."""
    run = subprocess.run(["/usr/bin/time", "-v", *cmd], capture_output=True, text=True)
    if run.returncode:
        sys.exit(f"{' '.join(cmd)} failed ({run.returncode}):\n{run.stderr[-3000:]}")
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (\S+)", run.stderr)
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", run.stderr)
    assert wall is not None and rss is not None, run.stderr[-500:]
    seconds = sum(float(v) * 60 ** i for i, v in enumerate(reversed(wall.group(1).split(":"))))
    return Timed(run.stdout, run.stderr, seconds, int(rss.group(1)) * 1024)
