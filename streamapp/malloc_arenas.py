"""Two malloc arenas per worker instead of glibc's eight per core.

Why: glibc gives each thread that contends for the heap an arena of its own, up to 8 x cores.
A worker runs the event loop, Faust's and aiokafka's threads and RocksDB's flush and compaction
threads; memory freed in one arena is not reused by another, so the resident size follows the
peak of each arena rather than of the process. Not cleanly measured on its own: 1-worker drains
of 1,000,000 events (``benchmarks.profile_drain --no-spy``, shared 64 MB cache, before batches
were capped in events) peaked at 849 and 1,398 MB with glibc's default, 561 MB with
``MALLOC_ARENA_MAX=2`` in the environment and 1,154 MB with this cap, at about the same events/s.

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
