"""``rank-citations`` whose rank 1 dies in the middle of the global solve (for tests under torchrun)."""

import os
import sys

import ranker.distributed as d
from ranker.cli import main

if os.environ.get("RANK") == "1":
    real, calls = d.column_sums, [0]

    def dying(x):
        calls[0] += 1
        if calls[0] == 5:
            os._exit(17)
        return real(x)

    d.column_sums = dying

sys.exit(main())
