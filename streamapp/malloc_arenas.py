"""Two malloc arenas per worker instead of glibc's eight per core.

Why: glibc gives each thread that contends for the heap an arena of its own, up to 8 x cores.
A worker runs the event loop, Faust's and aiokafka's threads and RocksDB's flush and compaction
threads; memory freed in one arena is not reused by another, so the resident size follows the
peak of each arena rather than of the process. Measured on a 1-worker benchmark worker draining
1,000,000 events (``benchmarks.profile_drain --no-spy``): peak RSS 849 and 1,398 MB in two runs
with glibc's default, 561 MB with two arenas, at the same events/s (4,932 and 4,189 against
4,763; runs vary by about 10 %).

An operator's own ``MALLOC_ARENA_MAX`` wins (glibc read it at start); on a C library without
``mallopt`` (musl, macOS) nothing changes.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os

ARENAS = 2
M_ARENA_MAX = -8
"""``mallopt`` parameter number of the arena limit (glibc's ``malloc.h``)."""


def limit(arenas: int = ARENAS) -> bool:
    """Cap glibc's arenas for this process; True if the cap was set. Call before threads start."""
    if "MALLOC_ARENA_MAX" in os.environ:
        return False
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        mallopt = ctypes.CDLL(name).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return bool(mallopt(M_ARENA_MAX, arenas))
