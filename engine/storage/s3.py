"""S3Storage: the `minio` client against MinIO or any S3 server (nothing server-specific)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, cast
from urllib.parse import urlsplit

import urllib3
from minio import Minio
from minio.error import S3Error

from engine.errors import ServiceUnavailable
from engine.storage.protocol import Readable

if TYPE_CHECKING:
    from engine.settings import Settings

__all__ = ["S3Storage"]

PART_SIZE = 8 * 1024 * 1024
_MISSING = {"NoSuchKey", "NoSuchObject"}


@contextmanager
def s3_errors() -> Iterator[None]:
    try:
        yield
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        raise ServiceUnavailable("object storage is unavailable") from exc
    except S3Error as exc:
        if exc.code in ("ServiceUnavailable", "SlowDown", "InternalError", "XMinioServerNotInitialized"):
            raise ServiceUnavailable("object storage is unavailable") from exc
        if exc.code == "NoSuchBucket":  # not "the object is gone": storage is not ready (yet)
            raise ServiceUnavailable("object storage has no bucket for Earshot yet") from exc
        raise


class _Counting:
    def __init__(self, stream: Readable) -> None:
        self._s = stream
        self.total = 0

    def read(self, size: int = -1, /) -> bytes:
        data = self._s.read(size)
        self.total += len(data)
        return data


class S3Storage:
    def __init__(self, client: Minio, bucket: str, *, presigner: Minio | None = None) -> None:
        self._c = client
        self._presigner = presigner or client
        self.bucket = bucket

    @classmethod
    def from_settings(cls, settings: Settings, *, probe_timeout_s: float | None = None) -> S3Storage:
        """The storage of `settings`. With `probe_timeout_s`: a client for readiness checks, one
        try answered within that time (an S3 server that hangs is reported down, quickly)."""
        if probe_timeout_s is not None:
            timeout = urllib3.Timeout(connect=probe_timeout_s, read=probe_timeout_s)
            retries = urllib3.Retry(total=0, redirect=0)
        else:
            # Few, fast retries: an outage must surface as an error within seconds, not a long hang.
            timeout = urllib3.Timeout(connect=3, read=60)
            retries = urllib3.Retry(total=2, backoff_factor=0.2, status_forcelist=(502, 503, 504))
        http = urllib3.PoolManager(timeout=timeout, maxsize=16, retries=retries)
        client = Minio(
            settings.s3_endpoint,
            access_key=settings.s3_access_key,
            secret_key=settings.s3_secret_key,
            secure=settings.s3_secure,
            region=settings.s3_region or None,
            http_client=http,
        )
        return cls(client, settings.s3_bucket, presigner=_presigner(settings))

    def ensure_bucket(self) -> None:
        with s3_errors():
            if not self._c.bucket_exists(self.bucket):
                try:
                    self._c.make_bucket(self.bucket)
                except S3Error as exc:  # another process made it first
                    if exc.code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                        raise

    def put_stream(self, key: str, stream: Readable, content_type: str) -> int:
        counted = _Counting(stream)
        with s3_errors():
            self._c.put_object(
                self.bucket,
                key,
                cast(BinaryIO, counted),
                length=-1,
                part_size=PART_SIZE,
                content_type=content_type,
                # One part in flight: memory stays at about one part whatever the object's size.
                num_parallel_uploads=1,
            )
        return counted.total

    def put_bytes(self, key: str, data: bytes, content_type: str) -> None:
        with s3_errors():
            self._c.put_object(self.bucket, key, io.BytesIO(data), len(data), content_type=content_type)

    def get_bytes(self, key: str) -> bytes | None:
        with s3_errors():
            try:
                response = self._c.get_object(self.bucket, key)
            except S3Error as exc:
                if exc.code in _MISSING:
                    return None
                raise
            try:
                return response.read()
            finally:
                response.close()
                response.release_conn()

    def download(self, key: str, path: Path) -> bool:
        with s3_errors():
            try:
                self._c.fget_object(self.bucket, key, str(path))
            except S3Error as exc:
                if exc.code in _MISSING:
                    return False
                raise
        return True

    def delete(self, key: str) -> None:
        with s3_errors():
            self._c.remove_object(self.bucket, key)

    def ping(self) -> None:
        """Reachable, and holding the bucket: a missing one is made here (an API that started before
        its S3 server heals itself); one that cannot be made means not ready."""
        with s3_errors():
            if self._c.bucket_exists(self.bucket):
                return
            try:
                self.ensure_bucket()
            except S3Error as exc:
                raise ServiceUnavailable(f"object storage has no bucket {self.bucket!r} ({exc.code})") from None

    def list_keys(self, prefix: str) -> Iterator[str]:
        with s3_errors():
            for obj in self._c.list_objects(self.bucket, prefix=prefix, recursive=True):
                if obj.object_name is not None:
                    yield obj.object_name

    def presign_get(self, key: str, ttl_seconds: int) -> str:
        with s3_errors():
            return self._presigner.presigned_get_object(self.bucket, key, expires=timedelta(seconds=ttl_seconds))


def _presigner(settings: Settings) -> Minio:
    """Signs links for clients, with the address they use (which may differ from ours).
    Signing is local: the region is given so that no request is made."""
    public = urlsplit(settings.s3_public_url) if settings.s3_public_url else None
    return Minio(
        public.netloc if public else settings.s3_endpoint,
        access_key=settings.s3_access_key,
        secret_key=settings.s3_secret_key,
        secure=(public.scheme == "https") if public else settings.s3_secure,
        region=settings.s3_region or "us-east-1",
    )
