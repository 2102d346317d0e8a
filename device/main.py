# Boot: build the board, then the meter core, and run it. Hardware lives in board.py.
import sys

# Frozen modules before the flash root: the meter's data directories on flash (journal/,
# credit/) have its packages' names, and a directory on the path shadows a frozen package
# (found by booting the esp32 board files twice: tests/e2e/test_esp32_board.py). A loose
# .mpy bundle, which nothing is frozen for, is still found in the root, last.
if "" in sys.path:
    sys.path.remove("")
    sys.path.append("")

import asyncio
import gc

from board import Board
from meter import boot

gc.collect()
asyncio.run(boot(Board()).run())
