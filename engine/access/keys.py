"""Tenants and API keys. Secrets are random, shown once, and stored only as salted SHA-256.

A secret is 32 random bytes, so a fast hash is enough (there is nothing to brute-force as with
passwords) and keeps authentication to one Redis GET per request; comparison is constant-time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from datetime import datetime

import msgspec
import redis

from engine.clock import utc_now
from engine.errors import ApiKeyNotFound
from engine.index.mirror import SystemBackup
from engine.keyspace import KEYS, KeySpace
from engine.redisio import redis_errors, text_of

__all__ = ["ApiKey", "IssuedKey", "KeyStore", "Tenant", "hash_secret", "verify_secret"]


class Tenant(msgspec.Struct, kw_only=True):
    id: str
    name: str
    created_at: datetime


class ApiKey(msgspec.Struct, kw_only=True):
    key: str
    tenant_id: str
    salt: str
    secret_hash: str
    created_at: datetime
    name: str | None = None
    """A label the tenant chose (self-service keys); operator-made keys have none."""


class IssuedKey(msgspec.Struct, kw_only=True):
    tenant_id: str
    tenant_name: str
    api_key: str
    api_secret: str
    bearer: str = ""
    """`api_key:api_secret`, the one-string credential of `Authorization: Bearer` (OpenAI SDKs' api_key)."""


def hash_secret(secret: str, salt: str) -> str:
    return hashlib.sha256(bytes.fromhex(salt) + secret.encode()).hexdigest()


def verify_secret(secret: str, key: ApiKey) -> bool:
    return hmac.compare_digest(hash_secret(secret, key.salt), key.secret_hash)


_enc = msgspec.json.Encoder()
_dec_key = msgspec.json.Decoder(ApiKey)
_dec_tenant = msgspec.json.Decoder(Tenant)


class KeyStore:
    def __init__(self, client: redis.Redis, backup: SystemBackup | None = None, keys: KeySpace = KEYS) -> None:
        self._r = client
        self._k = keys
        self._backup = backup

    def tenant_by_name(self, name: str, *, create: bool = False) -> Tenant | None:
        name_key = self._k.tenant_name(name)
        with redis_errors():
            tenant_id = self._r.get(name_key)
            if tenant_id is None:
                if not create:
                    return None
                tenant = Tenant(id=str(uuid.uuid4()), name=name, created_at=utc_now())
                # SET NX: two concurrent creates of the same name end with one tenant.
                if self._r.set(name_key, tenant.id, nx=True):
                    self._r.set(self._k.tenant(tenant.id), _enc.encode(tenant))
                    if self._backup is not None:
                        self._backup.save("tenants", tenant.id, tenant)
                    return tenant
                tenant_id = self._r.get(name_key)
            raw = self._r.get(self._k.tenant(tenant_id.decode()))  # type: ignore[union-attr]
        return None if raw is None else _dec_tenant.decode(raw)

    def tenant(self, tenant_id: str) -> Tenant | None:
        with redis_errors():
            raw = self._r.get(self._k.tenant(tenant_id))
        return None if raw is None else _dec_tenant.decode(raw)

    def create(self, tenant_name: str) -> IssuedKey:
        tenant = self.tenant_by_name(tenant_name, create=True)
        assert tenant is not None
        return self._issue(tenant, None)

    def create_for(self, tenant_id: str, name: str | None) -> tuple[ApiKey, IssuedKey]:
        """A new key of an existing tenant (its own self-service), with the record that lists it."""
        tenant = self.tenant(tenant_id)
        if tenant is None:
            raise ApiKeyNotFound("the tenant of this api key no longer exists")
        issued = self._issue(tenant, name)
        record = self.get_for(tenant_id, issued.api_key)
        return record, issued

    def _issue(self, tenant: Tenant, name: str | None) -> IssuedKey:
        api_key = "ek_" + secrets.token_urlsafe(18)
        secret = "es_" + secrets.token_urlsafe(32)
        salt = secrets.token_hex(16)
        record = ApiKey(
            key=api_key,
            tenant_id=tenant.id,
            salt=salt,
            secret_hash=hash_secret(secret, salt),
            created_at=utc_now(),
            name=name,
        )
        if self._backup is not None:
            self._backup.save("keys", api_key, record)
        self._store_key(record)
        return IssuedKey(
            tenant_id=tenant.id,
            tenant_name=tenant.name,
            api_key=api_key,
            api_secret=secret,
            bearer=f"{api_key}:{secret}",
        )

    def _store_key(self, record: ApiKey) -> None:
        with redis_errors():
            pipe = self._r.pipeline(transaction=True)
            pipe.set(self._k.api_key(record.key), _enc.encode(record))
            pipe.sadd(self._k.tenant_keys(record.tenant_id), record.key)
            pipe.execute()

    def restore_tenant(self, tenant_id: str, raw: bytes) -> None:
        tenant = _dec_tenant.decode(raw)
        with redis_errors():
            self._r.set(self._k.tenant(tenant.id), raw)
            self._r.set(self._k.tenant_name(tenant.name), tenant.id)

    def restore_key(self, api_key: str, raw: bytes) -> None:
        self._store_key(_dec_key.decode(raw))

    def exists(self, api_key: str) -> bool:
        with redis_errors():
            return bool(self._r.exists(self._k.api_key(api_key)))

    def authenticate(self, api_key: str, secret: str) -> str | None:
        """The tenant id of a valid pair, else None."""
        if len(api_key) > 128 or len(secret) > 256:
            return None
        with redis_errors():
            raw = self._r.get(self._k.api_key(api_key))
        if raw is None:
            # Spend the same hashing work as a known key, so timing does not reveal which keys exist.
            hash_secret(secret, "00" * 16)
            return None
        record = _dec_key.decode(raw)
        return record.tenant_id if verify_secret(secret, record) else None

    def for_tenant(self, tenant_id: str) -> list[ApiKey]:
        """One tenant's keys, oldest first (from its own set: never a scan of every key)."""
        with redis_errors():
            names = sorted(text_of(k) for k in self._r.smembers(self._k.tenant_keys(tenant_id)))
            raws = self._r.mget([self._k.api_key(k) for k in names]) if names else []
        records = [_dec_key.decode(raw) for raw in raws if raw is not None]
        return sorted((r for r in records if r.tenant_id == tenant_id), key=lambda r: r.created_at)

    def list(self, tenant_name: str | None = None) -> list[tuple[ApiKey, Tenant | None]]:
        with redis_errors():
            keys = [k for k in self._r.scan_iter(match=self._k.api_key_pattern, count=500)]
            raws = self._r.mget(keys) if keys else []
        out = []
        for raw in raws:
            if raw is None:
                continue
            record = _dec_key.decode(raw)
            with redis_errors():
                traw = self._r.get(self._k.tenant(record.tenant_id))
            tenant = None if traw is None else _dec_tenant.decode(traw)
            if tenant_name is None or (tenant is not None and tenant.name == tenant_name):
                out.append((record, tenant))
        out.sort(key=lambda pair: pair[0].created_at)
        return out

    def get_for(self, tenant_id: str, api_key: str) -> ApiKey:
        """A key of this tenant; another tenant's key answers exactly like an unknown one."""
        raw = None
        if 0 < len(api_key) <= 128:
            with redis_errors():
                raw = self._r.get(self._k.api_key(api_key))
        record = None if raw is None else _dec_key.decode(raw)
        if record is None or record.tenant_id != tenant_id:
            raise ApiKeyNotFound(f"api key {api_key[:64]!r} not found")
        return record

    def revoke_for(self, tenant_id: str, api_key: str) -> None:
        """Revoke one of the tenant's own keys (404 for anyone else's)."""
        self.get_for(tenant_id, api_key)
        if not self.revoke(api_key):
            raise ApiKeyNotFound(f"api key {api_key[:64]!r} not found")

    def revoke(self, api_key: str) -> bool:
        with redis_errors():
            raw = self._r.get(self._k.api_key(api_key))
            if raw is None:
                return False
            record = _dec_key.decode(raw)
            if self._backup is not None:
                self._backup.remove("keys", api_key)
            pipe = self._r.pipeline(transaction=True)
            pipe.delete(self._k.api_key(api_key))
            pipe.srem(self._k.tenant_keys(record.tenant_id), api_key)
            pipe.execute()
        return True
