"""`loudest_feature`: the level sequential decoding floors a recording's features against, read
piece by piece so that a long recording is never whole in memory."""

from __future__ import annotations

import numpy as np
import pytest
from faster_whisper.feature_extractor import FeatureExtractor

from engine.transcription.decoder import loudest_feature

SR = 16000


@pytest.fixture(scope="module")
def extractor() -> FeatureExtractor:
    return FeatureExtractor()


def _whole(extractor: FeatureExtractor, audio: np.ndarray) -> float:
    return float(extractor(audio).max()) * 4.0 - 4.0


def _blocks(audio: np.ndarray, size: int) -> list[np.ndarray]:
    return [audio[at : at + size] for at in range(0, len(audio), size)]


@pytest.mark.parametrize("size", [SR * 10, SR * 3 + 37, 1000, 401, 13])
def test_the_level_read_in_pieces_is_the_level_of_the_whole_recording(extractor: FeatureExtractor, size: int) -> None:
    rng = np.random.default_rng(size)
    audio = (rng.standard_normal(SR * 25) * 0.01).astype(np.float32)
    # The loudest moment is a click right at a piece's edge, where a piece's own frames are
    # reflections of itself and fall off the recording's 10 ms grid unless it starts on it.
    click = (size * 2 + 170) if size * 2 + 200 < len(audio) else len(audio) // 2
    audio[click : click + 24] = 0.9
    assert loudest_feature(extractor, _blocks(audio, size)) == _whole(extractor, audio)


def test_a_recording_ending_loud_counts_its_padded_end_as_one_call_does(extractor: FeatureExtractor) -> None:
    audio = np.zeros(SR * 12, np.float32)
    audio[-50:] = 0.8
    assert loudest_feature(extractor, _blocks(audio, SR * 5)) == _whole(extractor, audio)


def test_no_audio_has_no_level(extractor: FeatureExtractor) -> None:
    assert loudest_feature(extractor, []) is None
    assert loudest_feature(extractor, [np.zeros(0, np.float32)]) is None
    tiny = np.full(7, 0.5, np.float32)
    assert loudest_feature(extractor, [tiny]) == _whole(extractor, tiny)
