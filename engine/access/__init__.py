"""Who may call: tenants and API keys (`keys`), short-lived upload tokens (`tokens`), per-key request
limits (`ratelimit`).
"""

from engine.access.keys import ApiKey, IssuedKey, KeyStore, Tenant, hash_secret, verify_secret
from engine.access.ratelimit import AuthThrottle, RateLimiter
from engine.access.tokens import UPLOAD_SCOPE, IssuedToken, TokenClaims, TokenSigner, validate_identity, validate_scopes

__all__ = [
    "UPLOAD_SCOPE",
    "ApiKey",
    "AuthThrottle",
    "IssuedKey",
    "IssuedToken",
    "KeyStore",
    "RateLimiter",
    "Tenant",
    "TokenClaims",
    "TokenSigner",
    "hash_secret",
    "validate_identity",
    "validate_scopes",
    "verify_secret",
]
