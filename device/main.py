# Boot: build the board, then the meter core, and run it. Hardware lives in board.py.
import asyncio
import gc

from board import Board
from meter import Meter

gc.collect()
asyncio.run(Meter(Board()).run())
