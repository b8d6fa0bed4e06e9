"""Who may call: tenants and API keys (`keys`), short-lived upload tokens (`tokens`), per-key request
limits (`ratelimit`).
"""

from engine.access.keys import ApiKey, IssuedKey, KeyStore, Tenant, hash_secret, verify_secret
from engine.access.ratelimit import RateLimiter
from engine.access.tokens import IssuedToken, TokenClaims, TokenSigner, validate_identity

__all__ = [
    "ApiKey",
    "IssuedKey",
    "IssuedToken",
    "KeyStore",
    "RateLimiter",
    "Tenant",
    "TokenClaims",
    "TokenSigner",
    "hash_secret",
    "validate_identity",
    "verify_secret",
]
