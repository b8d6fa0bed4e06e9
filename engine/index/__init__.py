"""The recording index: the `Index` protocol and `PageQuery` (`protocol`), the in-memory fake
(`memory`), the Redis implementation (`redis_index`), and the copy of every record kept in object
storage so Redis can be rebuilt (`mirror`).
"""

from engine.index.memory import MemoryIndex
from engine.index.mirror import MirroredIndex, ReindexReport, SystemBackup, reindex
from engine.index.protocol import Index, PageQuery, score_of
from engine.index.redis_index import RedisIndex

__all__ = [
    "Index",
    "MemoryIndex",
    "MirroredIndex",
    "PageQuery",
    "RedisIndex",
    "ReindexReport",
    "SystemBackup",
    "reindex",
    "score_of",
]
