"""``rank-citations`` whose rank 1 dies in the middle of the global solve (for tests under torchrun)."""

import os
import sys

import ranker.distributed as d
from dist_harness import die_on_call
from ranker.cli import main

if os.environ.get("RANK") == "1":
    die_on_call(d, "column_sums", 5)

sys.exit(main())
