"""engine.keys: API secrets are stored only as salted hashes, and verified in constant time."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any

import msgspec

from engine.access.keys import ApiKey, KeyStore, hash_secret, verify_secret


def stored_key(secret: str) -> ApiKey:
    """What is kept of an issued key: a fresh salt and the hash, never the secret."""
    salt = secrets.token_hex(16)
    return ApiKey(
        key="ek_" + secrets.token_urlsafe(18),
        tenant_id="tenant-1",
        salt=salt,
        secret_hash=hash_secret(secret, salt),
        created_at=datetime(2025, 10, 1, tzinfo=UTC),
    )


SECRET = "es_" + "Zx9" * 14


def test_the_secret_that_was_issued_verifies() -> None:
    assert verify_secret(SECRET, stored_key(SECRET))


def test_a_secret_changed_in_any_one_character_does_not_verify() -> None:
    key = stored_key(SECRET)

    for i in range(len(SECRET)):
        changed = SECRET[:i] + ("A" if SECRET[i] != "A" else "B") + SECRET[i + 1 :]
        assert not verify_secret(changed, key), changed


def test_a_truncated_or_extended_secret_does_not_verify() -> None:
    key = stored_key(SECRET)

    assert not verify_secret(SECRET[:-1], key)
    assert not verify_secret(SECRET + "x", key)
    assert not verify_secret("", key)


def test_the_stored_hash_does_not_contain_the_secret() -> None:
    key = stored_key(SECRET)

    assert SECRET not in key.secret_hash
    assert SECRET not in key.salt


def test_equal_secrets_under_different_keys_hash_differently() -> None:
    first, second = stored_key(SECRET), stored_key(SECRET)

    assert first.salt != second.salt
    assert first.secret_hash != second.secret_hash
    assert verify_secret(SECRET, first)
    assert verify_secret(SECRET, second)


def test_a_hash_only_verifies_with_its_own_salt() -> None:
    first, second = stored_key(SECRET), stored_key(SECRET)
    swapped = ApiKey(
        key=first.key,
        tenant_id=first.tenant_id,
        salt=second.salt,
        secret_hash=first.secret_hash,
        created_at=first.created_at,
    )

    assert not verify_secret(SECRET, swapped)


def test_hashing_is_deterministic_for_a_given_salt() -> None:
    salt = secrets.token_hex(16)

    assert hash_secret(SECRET, salt) == hash_secret(SECRET, salt)


def test_non_ascii_secrets_hash_and_verify() -> None:
    assert verify_secret("sécret-🔑", stored_key("sécret-🔑"))
    assert not verify_secret("secret-🔑", stored_key("sécret-🔑"))


# --- keys issued by KeyStore ----------------------------------------------------------------------


class DictRedis:
    """Just enough of a Redis client for issuing keys, held in a dict."""

    def __init__(self) -> None:
        self.data: dict[str, Any] = {}

    def get(self, name: str) -> bytes | None:
        value = self.data.get(name)
        return value.encode() if isinstance(value, str) else value

    def set(self, name: str, value: str | bytes, nx: bool = False) -> bool:
        if nx and name in self.data:
            return False
        self.data[name] = value
        return True

    def sadd(self, name: str, *values: str) -> int:
        members = self.data.setdefault(name, set())
        before = len(members)
        members.update(values)
        return len(members) - before

    def pipeline(self, transaction: bool = True) -> DictPipeline:
        return DictPipeline(self)


class DictPipeline:
    def __init__(self, client: DictRedis) -> None:
        self._client = client
        self._calls: list[tuple[str, tuple[Any, ...]]] = []

    def set(self, *args: Any) -> None:
        self._calls.append(("set", args))

    def sadd(self, *args: Any) -> None:
        self._calls.append(("sadd", args))

    def execute(self) -> list[Any]:
        return [getattr(self._client, name)(*args) for name, args in self._calls]


def stored_record(client: DictRedis, api_key: str) -> ApiKey:
    return msgspec.json.decode(client.get(f"earshot:key:{api_key}") or b"", type=ApiKey)


def test_issued_keys_authenticate_with_their_secret_and_only_with_it() -> None:
    store = KeyStore(DictRedis())  # type: ignore[arg-type]
    issued = store.create("acme")

    assert store.authenticate(issued.api_key, issued.api_secret) == issued.tenant_id
    assert store.authenticate(issued.api_key, issued.api_secret[:-1] + "?") is None


def test_each_issued_key_gets_its_own_salt_and_keeps_no_secret() -> None:
    client = DictRedis()
    store = KeyStore(client)  # type: ignore[arg-type]

    first, second = store.create("acme"), store.create("acme")
    a, b = stored_record(client, first.api_key), stored_record(client, second.api_key)

    assert a.salt != b.salt
    assert hash_secret(SECRET, a.salt) != hash_secret(SECRET, b.salt)
    assert all(first.api_secret not in str(value) for value in client.data.values())
