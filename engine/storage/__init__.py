"""Object storage for audio, transcripts and backups: the `Storage` protocol (`protocol`), the in-
memory fake (`memory`), S3/MinIO (`s3`), and streaming bytes into it from async code (`streaming`).
"""

from engine.storage.memory import MemoryStorage
from engine.storage.protocol import Readable, Storage
from engine.storage.purge import purge
from engine.storage.s3 import S3Storage
from engine.storage.streaming import ReceivedUpload, StreamingPut, extension_for, safe_filename

__all__ = [
    "MemoryStorage",
    "Readable",
    "ReceivedUpload",
    "S3Storage",
    "Storage",
    "StreamingPut",
    "extension_for",
    "purge",
    "safe_filename",
]
