"""Arrow's memory pool for the processes that ingest (the server and its decode workers).

pyarrow allocates from mimalloc by default, which keeps freed segments for reuse: each decode
worker held ~40 MiB more at its peak than with the C library's allocator (353 → 311 MiB of RSS on
issue 14's content-carrying batches, the server 60-170 MiB more), and the decode CPU per span did
not change measurably (docs/scaling.md, "Memory"). ``ARROW_DEFAULT_MEMORY_POOL`` still decides
when it is set, so an operator can choose another pool.
"""

from __future__ import annotations

import os

import pyarrow as pa

POOL_VARIABLE = "ARROW_DEFAULT_MEMORY_POOL"


def use_system_pool() -> None:
    """Make the C library's allocator Arrow's default pool, unless the environment names one."""
    if os.environ.get(POOL_VARIABLE):
        return
    pa.set_memory_pool(pa.system_memory_pool())
