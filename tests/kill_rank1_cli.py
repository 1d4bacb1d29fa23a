"""``rank-citations`` whose rank 1 dies in the middle of the global solve (for tests under torchrun)."""

import os
import sys

from dist_harness import die_on_call
from ranker.cli import main
from ranker.parallel.comm import Comm

if os.environ.get("RANK") == "1":
    die_on_call(Comm, "all_gather_rows", 3)

sys.exit(main())
