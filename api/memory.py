"""Give freed heap memory back to the operating system now and then.

A burst of connections (hundreds of stalled uploads, each with a partly received body) frees its
memory when the clients go away, but glibc keeps freed heap pages mapped: the process's RSS stays
at the burst's peak. `malloc_trim(0)` returns every whole free page; it takes about a millisecond,
so the API calls it every `TRIM_INTERVAL_S` seconds. Elsewhere than glibc it does nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import logging
from collections.abc import Callable

__all__ = ["TRIM_INTERVAL_S", "MemoryTrimmer"]

log = logging.getLogger("earshot.api")

TRIM_INTERVAL_S = 10.0


def _malloc_trim() -> Callable[[], None] | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        libc = ctypes.CDLL(name)
        trim = libc.malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int

    def run() -> None:
        trim(0)

    return run


class MemoryTrimmer:
    def __init__(self, interval_s: float | None = None) -> None:
        self._interval = interval_s or TRIM_INTERVAL_S
        self._trim = _malloc_trim()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self._trim is not None and self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(self._trim))

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self, trim: Callable[[], None]) -> None:
        while True:
            await asyncio.sleep(self._interval)
            trim()
