"""The HTTP API (Litestar). `create_app(settings)` is the only entry point."""

from api.app import create_app

__all__ = ["create_app"]
