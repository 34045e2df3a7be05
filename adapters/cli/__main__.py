"""`python -m adapters.cli`: the same as the `tierbuffer` console script.

Guarded: anyio's worker processes run the parent's main module again (as `__mp_main__`, the way
multiprocessing does), and a worker must not start the command line itself.
"""

import sys

from adapters.cli import main

if __name__ == "__main__":
    sys.exit(main())
