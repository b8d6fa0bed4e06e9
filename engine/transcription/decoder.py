"""Decoding windows in batches: many windows (≤ 30 s each, from any recordings) through the model at once.

This module owns the model's work on windows (DESIGN.md, "Throughput: windows, not files"): log-mel
features per window, one encoder pass over the stacked windows (in sub-batches of `encode_batch`),
batched generation, faster-whisper's quality fallback per window, the no-speech rule, segments
and word timestamps with times absolute in the window's recording. It does not cut recordings
(`windows`), fetch audio, or put a recording's windows back together beyond `to_transcript`.

Per window it follows faster-whisper 1.2.1's sequential `generate_with_fallback` and
`generate_segments` (same defaults: thresholds 2.4 / -1.0 / 0.6, temperatures 0.0 … 1.0, best of 5,
the "silence" exemption, the no-speech skip, the same punctuation merging; features floored 80 dB
below the whole recording's loudest moment, `WindowItem.ceiling`; a window left unfinished is
resumed where its last word ends), except where a fixed window needs otherwise:

- text after the window's last complete timestamp pair is kept, as a last segment up to the
  window's end (sequential decoding would seek back and decode it again in its next window);
- in a window cut from a longer recording, timestamps past its real audio are suppressed (rounded
  up to `timestamp_bucket_seconds`), so the model does not run on into the padding but ends at the
  cut or leaves its last words unfinished for the next window. A recording's last window
  (`WindowItem.final`; a short clip is one) is decoded as sequential decoding decodes its padded
  last window, timestamps free: there the limit left the model unable to close a segment whose
  speech runs to the very end, so it repeated itself to the length limit at every temperature (a
  9 s meeting clip: 224 tokens at each of six temperatures, 19 s, against 19 tokens and 1.2 s), or
  left the end unfinished and cost a second window. Segments and words are clamped to the window;
- a window is conditioned only on the `prompt` its item brings (its batch-mates' text does not exist yet).

The windows that fail a temperature step are generated again together at the next one, from
their kept encoder output (no second encoder pass). ctranslate2 needs the same prompt length
(the start-of-transcript token at the same position), decoding settings and suppressed tokens
within one `generate` call, so windows are grouped by those. A window's result depends only on
itself and its options, not on its batch-mates, except where it needs the sampled fallback
(temperature > 0): CTranslate2 4.8.5 samples from a random stream per model thread, seeded once
when that thread first samples and with no per-call seed, so such a window can decode differently
on another call, as it does in faster-whisper's own sequential decoding. `seed` makes a fresh
process's stream the same on every start (faster-whisper leaves it random).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec
import numpy as np

from engine.recordings.transcripts import Segment, Word
from engine.transcription.whisper import TranscribeOptions, WhisperTranscriber

__all__ = [
    "DecodedSegment",
    "DecodedWord",
    "WindowDecoder",
    "WindowItem",
    "WindowOptions",
    "WindowResult",
    "loudest_feature",
    "to_transcript",
]

SAMPLE_RATE = 16000
MAX_WINDOW_SAMPLES = 30 * SAMPLE_RATE
N_FRAMES = 3000
"""Encoder input frames (10 ms each): every window is padded to 30 s."""
LAST_TIMESTAMP = 1500
"""Timestamp tokens run from 0.00 s to 30.00 s in 20 ms steps."""
MAX_INITIAL_TIMESTAMP_INDEX = 50
PREPEND_PUNCTUATIONS = "\"'“¿([{-"
APPEND_PUNCTUATIONS = "\"'.。,，!！?？:：”)]}、"  # noqa: RUF001 - faster-whisper's default


class WindowOptions(msgspec.Struct, kw_only=True, frozen=True):
    """How to decode a window; faster-whisper's `transcribe` defaults."""

    language: str | None = None
    """None: English on an English-only model, else detected per window."""
    task: str = "transcribe"
    """`translate`: English text whatever the language spoken (multilingual models)."""
    hotwords: str | None = None
    """Terms to favour: faster-whisper's `hotwords`, ahead of the previous text in every window's prompt."""
    beam_size: int = 5
    best_of: int = 5
    word_timestamps: bool = True
    temperatures: tuple[float, ...] = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
    compression_ratio_threshold: float | None = 2.4
    log_prob_threshold: float | None = -1.0
    no_speech_threshold: float | None = 0.6

    @classmethod
    def of(cls, options: TranscribeOptions) -> WindowOptions:
        """The window options of a job's options (its prompt goes in `WindowItem.prompt`)."""
        return cls(
            language=options.language,
            task=options.task,
            hotwords=options.hotwords,
            beam_size=options.beam_size,
            word_timestamps=options.word_timestamps,
        )


HOP = 160
"""Samples per feature frame (10 ms)."""
CONTEXT_BEFORE = 2 * HOP
CONTEXT_AFTER = 400
"""Audio either side of a window that its edge frames' short-time transforms reach into (400-sample
FFTs centred on each frame): with it, a window cut from a recording gets the features sequential
decoding computes over the whole recording, not reflections of its own edges. The last frames
decide how the model ends a window (measured: the same 30 s of speech decoded with reflected or
real edges gave different punctuation and segment ends)."""

MIN_SEEK_FRAMES = 100
"""A window that accounts for less than 1 s keeps its unfinished text instead (no endless loop)."""


@dataclass(frozen=True, eq=False)
class WindowItem:
    """One window to decode: float32 16 kHz samples (≤ 30 s), starting `offset` s into its recording."""

    samples: np.ndarray[Any, Any]
    offset: float = 0.0
    options: WindowOptions = field(default_factory=WindowOptions)
    prompt: str | None = None
    """Text to condition on: the job's initial prompt, or previous text when decoding in order."""
    last_speech: float | None = None
    """End of the speech before this window (word-timing heuristics); None: the window's start."""
    previous_tokens: tuple[int, ...] = ()
    """The recording's tokens before this window, as sequential decoding conditions on them
    (after `prompt`; the model keeps the last 223)."""
    previous_language: str | None = None
    """The language of the text in `prompt` and `previous_tokens`. A window detected in another
    language is decoded without them (English text would pull German speech towards English, or
    past it), and its segments' languages are detected one by one (the switch lies inside it)."""
    final: bool = False
    """The window reaches the end of its recording: its timestamps are not limited to its real audio."""
    before: np.ndarray[Any, Any] | None = None
    """The recording's samples just before the window (the last `CONTEXT_BEFORE` are used)."""
    after: np.ndarray[Any, Any] | None = None
    """The recording's samples just after the window (the first `CONTEXT_AFTER` are used)."""
    ceiling: float | None = None
    """The loudest log-mel value (log10 power) of the whole recording (`loudest_feature`): the
    window's features are floored 80 dB below it, as sequential decoding floors the features it
    computes over the whole recording at once. None: below the window's own loudest value."""
    seek: bool = False
    """Decoding a recording in order: text after the window's last complete timestamp pair is left
    out and `WindowResult.consumed` says where the next window should start, as sequential
    decoding seeks back. Off: that text is kept, up to the window's end."""


class DecodedWord(msgspec.Struct, kw_only=True):
    word: str
    start: float
    end: float
    probability: float


class DecodedSegment(msgspec.Struct, kw_only=True):
    start: float
    end: float
    text: str
    tokens: list[int]
    words: list[DecodedWord]
    language: str | None = None
    """Detected on the segment's own audio, where the window's language changed; else the window's."""


class WindowResult(msgspec.Struct, kw_only=True):
    """A window's decoding; times are absolute in its recording."""

    offset: float
    duration: float
    language: str
    language_probability: float
    temperature: float
    avg_logprob: float
    compression_ratio: float
    no_speech_prob: float
    skipped: bool
    """The no-speech rule applied: the window has no segments."""
    last_speech: float
    segments: list[DecodedSegment]
    consumed: float = 0.0
    """Where the audio this window accounts for ends (absolute s): the window's end, or, with
    `WindowItem.seek`, the last complete timestamp when the model left the rest unfinished."""

    @property
    def text(self) -> str:
        return " ".join(s.text.strip() for s in self.segments if s.text.strip())


def _compression_ratio(text: str) -> float:
    from faster_whisper.transcribe import get_compression_ratio

    return round(float(get_compression_ratio(text)), 4) if text else 0.0


def to_transcript(results: Iterable[WindowResult], *, first_id: int = 0) -> tuple[list[Segment], list[Word]]:
    """A recording's windows (in order) as the transcript's segments and words, rounded as
    `WhisperTranscriber` rounds them."""
    segments: list[Segment] = []
    words: list[Word] = []
    for result in results:
        for s in result.segments:
            segments.append(
                Segment(
                    id=first_id + len(segments),
                    start=round(s.start, 3),
                    end=round(s.end, 3),
                    text=s.text.strip(),
                    avg_logprob=round(result.avg_logprob, 4),
                    no_speech_prob=round(result.no_speech_prob, 4),
                    compression_ratio=_compression_ratio(s.text.strip()),
                    language=s.language or result.language or None,
                )
            )
            words.extend(
                Word(
                    word=w.word.strip(),
                    start=round(w.start, 3),
                    end=round(w.end, 3),
                    confidence=round(w.probability, 4),
                )
                for w in s.words
            )
    return segments, words


@dataclass(frozen=True)
class _Attempt:
    tokens: list[int]
    avg_logprob: float
    compression_ratio: float
    no_speech_prob: float
    temperature: float


@dataclass(eq=False)
class _Job:
    """A window on its way through `decode`."""

    item: WindowItem
    features: np.ndarray[Any, Any]
    nframes: int
    row: int = -1
    language: str | None = None
    language_probability: float = 1.0
    tokenizer: Any = None
    prompt: list[int] = field(default_factory=list)
    timestamp_limit: int = LAST_TIMESTAMP
    attempts: list[_Attempt] = field(default_factory=list)
    best: _Attempt | None = None
    consumed_frames: int | None = None

    @property
    def options(self) -> WindowOptions:
        return self.item.options


def loudest_feature(extractor: Any, blocks: Iterable[np.ndarray[Any, Any]]) -> float | None:
    """The loudest log-mel value (log10 power) of the audio in `blocks`, as faster-whisper's feature
    extractor `extractor` computes it over a whole recording at once; None for no audio.

    Piece by piece, so memory stays flat (and it is faster: 100 s took 0.18 s whole, 0.02 s in 30 s
    pieces). Each piece's frames lie on the whole recording's 10 ms grid, and a frame counts only
    where its 400-sample transform lies inside real audio: the frames at a piece's end (where the
    extractor reflects or pads it) are taken from the next piece, which starts `_LEAD` samples
    before the first of them; only the recording's own end is padded, as in one call."""
    loudest: float | None = None
    carry = np.zeros(0, np.float32)
    skip = 0  # frames at a piece's start that reach before it (the previous piece counted them)
    for block in blocks:
        audio = np.concatenate([carry, _float32(block)])
        last = (len(audio) - _REACH) // HOP  # the last frame whose transform ends inside the audio
        if last <= skip:
            carry = audio
            continue
        loudest = _louder(loudest, extractor(audio)[:, skip : last + 1])
        carry = audio[(last + 1) * HOP - _LEAD :]
        skip = _LEAD // HOP
    if len(carry) > skip * HOP:  # the recording's end, padded as one call pads it
        loudest = _louder(loudest, extractor(carry)[:, skip:])
    return loudest


def _louder(loudest: float | None, features: np.ndarray[Any, Any]) -> float:
    level = float(np.max(features)) * 4.0 - 4.0  # the extractor gives (log10 power + 4) / 4
    return level if loudest is None else max(loudest, level)


_REACH = 200
"""Samples a frame's transform reaches either side of its centre (n_fft 400)."""
_LEAD = 2 * HOP
"""Samples of the previous piece a piece starts with: its first two frames reach past its start."""


def _float32(samples: np.ndarray[Any, Any] | None) -> np.ndarray[Any, Any]:
    return np.zeros(0, np.float32) if samples is None else np.asarray(samples, dtype=np.float32).reshape(-1)


SHORT_LANGUAGE_SECONDS = 2.0
"""A segment shorter than this holds too little speech to tell its language by (multilingual.mp3 on an
AMD EPYC: the 0.57 s "Verfahren." between two German segments was detected as English)."""


def _steady_languages(languages: list[str], seconds: list[float]) -> list[str]:
    """Segment languages as detected, except that a short segment between two segments of one
    language takes theirs."""
    steady = list(languages)
    for index in range(1, len(languages) - 1):
        before, after = languages[index - 1], languages[index + 1]
        if seconds[index] < SHORT_LANGUAGE_SECONDS and before == after:
            steady[index] = before
    return steady


def _storage(array: np.ndarray[Any, Any]) -> Any:
    import ctranslate2

    return ctranslate2.StorageView.from_array(np.ascontiguousarray(array))


def _acceptable(options: WindowOptions, attempt: _Attempt) -> bool:
    """faster-whisper's test after each temperature: not too repetitive, not too unlikely, or silence."""
    cr_limit, lp_limit, ns_limit = (
        options.compression_ratio_threshold,
        options.log_prob_threshold,
        options.no_speech_threshold,
    )
    unlikely = lp_limit is not None and attempt.avg_logprob < lp_limit
    if ns_limit is not None and unlikely and attempt.no_speech_prob > ns_limit:
        return True  # silence: accepted here, and skipped by the no-speech rule
    return not ((cr_limit is not None and attempt.compression_ratio > cr_limit) or unlikely)


def _best_of_failed(job: _Job) -> _Attempt:
    """All temperatures failed: the likeliest attempt that was not too repetitive (or of all)."""
    limit = job.options.compression_ratio_threshold
    candidates = [a for a in job.attempts if limit is not None and a.compression_ratio <= limit] or job.attempts
    best = max(candidates, key=lambda a: a.avg_logprob)
    return _Attempt(
        best.tokens, best.avg_logprob, best.compression_ratio, best.no_speech_prob, job.attempts[-1].temperature
    )


def _skipped(options: WindowOptions, attempt: _Attempt) -> bool:
    """faster-whisper's no-speech rule: likely no speech, and what was decoded is not likely."""
    if options.no_speech_threshold is None or attempt.no_speech_prob <= options.no_speech_threshold:
        return False
    return not (options.log_prob_threshold is not None and attempt.avg_logprob > options.log_prob_threshold)


class WindowDecoder:
    """Decodes windows in batches with a loaded faster-whisper `WhisperModel` (shared, not owned).

    Not thread-safe: one thread (the device's batch loop) calls `decode`."""

    def __init__(
        self,
        model: Any,
        *,
        encode_batch: int = 8,
        timestamp_bucket_seconds: float = 1.0,
        seed: int | None = 0,
    ) -> None:
        from faster_whisper.transcribe import get_suppressed_tokens

        if encode_batch < 1:
            raise ValueError("encode_batch must be at least 1")
        self._model = model
        self._encode_batch = encode_batch
        self._bucket = max(1, round(timestamp_bucket_seconds / model.time_precision))
        self._seed = seed
        self._seeded = False
        self._tokenizers: dict[tuple[str, str], Any] = {}
        # The same ids for every language: non-speech tokens and the task/control tokens.
        self._suppress: list[int] = list(get_suppressed_tokens(self._tokenizer("en"), [-1]))

    @classmethod
    def from_transcriber(cls, transcriber: WhisperTranscriber, **kwargs: Any) -> WindowDecoder:
        """Share the model `transcriber` has loaded (one copy of the weights per process)."""
        return cls(transcriber.model, **kwargs)

    @property
    def multilingual(self) -> bool:
        return bool(self._model.model.is_multilingual)

    def decode(self, items: Sequence[WindowItem]) -> list[WindowResult]:
        """Decode all `items` together; one result per item, in order."""
        jobs = [self._job(item) for item in items]
        live = [job for job in jobs if job.nframes > 0]
        encoded = self._encode(live)
        self._resolve_languages(live, encoded)
        for job in live:
            self._prepare(job)
        self._fallback(live, encoded)
        return [self._finish(job, encoded) for job in jobs]

    def _tokenizer(self, language: str, task: str = "transcribe") -> Any:
        from faster_whisper.tokenizer import Tokenizer

        if (language, task) not in self._tokenizers:
            self._tokenizers[(language, task)] = Tokenizer(
                self._model.hf_tokenizer, self.multilingual, task=task, language=language
            )
        return self._tokenizers[(language, task)]

    def _job(self, item: WindowItem) -> _Job:
        features = self.features(item)
        language = "en" if not self.multilingual else item.options.language
        return _Job(item, features, features.shape[1], language=language)

    def features(self, item: WindowItem) -> np.ndarray[Any, Any]:
        """The log-mel frames (80 x frames, 10 ms each) the window is decoded from: faster-whisper's,
        computed over the window and the few samples around it that its edge frames reach into, on
        the recording's 10 ms grid, floored against `item.ceiling` when it is given."""
        samples = np.asarray(item.samples, dtype=np.float32).reshape(-1)
        if len(samples) > MAX_WINDOW_SAMPLES:
            raise ValueError(f"a window is longer than 30 s ({len(samples) / SAMPLE_RATE:.2f} s)")
        if len(samples) == 0:
            return np.zeros((0, 0), np.float32)
        # Whole frames of the audio before the window, so that its frames fall on the recording's grid.
        before = _float32(item.before)
        before = before[len(before) - min(CONTEXT_BEFORE, len(before)) // HOP * HOP :]
        after = _float32(item.after)[:CONTEXT_AFTER]
        skip = len(before) // HOP
        nframes = min(len(samples) // HOP, N_FRAMES)  # as faster-whisper counts them (the last, partial, one dropped)
        # (Alone, the samples are passed as they are: features equal to the last bit to what
        # faster-whisper computes from the same array; the model's choices can turn on that bit.)
        audio = np.concatenate([before, samples, after]) if len(before) or len(after) else samples
        features = self._model.feature_extractor(audio)
        if item.ceiling is not None:
            # The extractor gives (max(log10 power, its input's loudest - 8) + 4) / 4: raising the
            # floor to the recording's loudest - 8 gives what it computes over the whole recording.
            features = np.maximum(features, np.float32((item.ceiling - 8.0 + 4.0) / 4.0))
        return np.asarray(features[:, skip : skip + nframes])

    def _encode(self, jobs: list[_Job]) -> np.ndarray[Any, Any]:
        """Encoder output of all jobs, one row each, in sub-batches of `encode_batch`."""
        from faster_whisper.audio import pad_or_trim

        model = self._model.model
        to_cpu = model.device == "cuda"  # rows are sliced on the host between calls
        parts = []
        for start in range(0, len(jobs), self._encode_batch):
            chunk = jobs[start : start + self._encode_batch]
            batch = np.stack([pad_or_trim(job.features, N_FRAMES) for job in chunk]).astype(np.float32)
            parts.append(np.asarray(model.encode(_storage(batch), to_cpu=to_cpu)))
            for row, job in enumerate(chunk, start):
                job.row = row
                job.features = np.zeros((0, 0), np.float32)  # no longer needed
        return np.concatenate(parts) if len(parts) > 1 else (parts[0] if parts else np.zeros((0, 0, 0), np.float32))

    def _resolve_languages(self, jobs: list[_Job], encoded: np.ndarray[Any, Any]) -> None:
        unknown = [job for job in jobs if job.language is None]
        if not unknown:
            return
        found = self._model.model.detect_language(_storage(encoded[[job.row for job in unknown]]))
        for job, ranked in zip(unknown, found, strict=True):
            token, probability = ranked[0]
            job.language, job.language_probability = str(token[2:-2]), float(probability)

    def _language_changed(self, job: _Job) -> bool:
        """Detected per window (language auto, a multilingual model) and not the previous text's."""
        previous = job.item.previous_language
        return self.multilingual and job.options.language is None and previous is not None and job.language != previous

    def _prepare(self, job: _Job) -> None:
        assert job.language is not None
        job.tokenizer = self._tokenizer(job.language, job.options.task if self.multilingual else "transcribe")
        previous = job.tokenizer.encode(" " + job.item.prompt.strip()) if job.item.prompt else []
        previous = [*previous, *job.item.previous_tokens]
        if self._language_changed(job):
            previous = []
        job.prompt = list(
            self._model.get_prompt(job.tokenizer, previous, without_timestamps=False, hotwords=job.options.hotwords)
        )
        # The last timestamp inside the real audio, rounded up to the bucket.
        last = math.ceil(job.nframes / self._model.input_stride)
        limit = min(LAST_TIMESTAMP, math.ceil(last / self._bucket) * self._bucket)
        job.timestamp_limit = LAST_TIMESTAMP if job.item.final else limit

    def _fallback(self, jobs: list[_Job], encoded: np.ndarray[Any, Any]) -> None:
        """Temperature steps: every window still failing goes on to its next temperature."""
        if any(not job.options.temperatures for job in jobs):
            raise ValueError("WindowOptions.temperatures is empty")
        pending, step = jobs, 0
        while pending:
            groups: dict[tuple[Any, ...], list[_Job]] = {}
            for job in pending:
                temperature = job.options.temperatures[step]
                breadth = job.options.best_of if temperature > 0 else job.options.beam_size
                groups.setdefault((len(job.prompt), job.timestamp_limit, temperature, breadth), []).append(job)
            failing = []
            for (_, limit, temperature, breadth), group in groups.items():
                for job, attempt in zip(
                    group, self._generate(group, encoded, limit, temperature, breadth), strict=True
                ):
                    job.attempts.append(attempt)
                    if _acceptable(job.options, attempt):
                        job.best = attempt
                    elif step + 1 < len(job.options.temperatures):
                        failing.append(job)
                    else:
                        job.best = _best_of_failed(job)
            pending, step = failing, step + 1

    def _generate(
        self, group: list[_Job], encoded: np.ndarray[Any, Any], limit: int, temperature: float, breadth: int
    ) -> list[_Attempt]:
        from faster_whisper.transcribe import get_compression_ratio

        if temperature > 0:
            kwargs: dict[str, Any] = dict(
                beam_size=1, num_hypotheses=breadth, sampling_topk=0, sampling_temperature=temperature
            )
            if self._seed is not None and not self._seeded:
                import ctranslate2

                ctranslate2.set_random_seed(self._seed)  # takes effect in threads that have not sampled yet
                self._seeded = True
        else:
            kwargs = dict(beam_size=breadth, patience=1.0)
        begin = group[0].tokenizer.timestamp_begin
        results = self._model.model.generate(
            _storage(encoded[[job.row for job in group]]),
            [job.prompt for job in group],
            length_penalty=1.0,
            repetition_penalty=1.0,
            no_repeat_ngram_size=0,
            max_length=self._model.max_length,
            return_scores=True,
            return_no_speech_prob=True,
            suppress_blank=True,
            suppress_tokens=self._suppress + list(range(begin + limit + 1, begin + LAST_TIMESTAMP + 1)),
            max_initial_timestamp_index=MAX_INITIAL_TIMESTAMP_INDEX,
            **kwargs,
        )
        attempts = []
        for job, result in zip(group, results, strict=True):
            tokens = [int(t) for t in result.sequences_ids[0]]
            # faster-whisper's recovery of the average log probability (length_penalty 1).
            avg_logprob = float(result.scores[0]) * len(tokens) / (len(tokens) + 1)
            ratio = float(get_compression_ratio(job.tokenizer.decode(tokens).strip()))
            attempts.append(_Attempt(tokens, avg_logprob, ratio, float(result.no_speech_prob), temperature))
        return attempts

    def _finish(self, job: _Job, encoded: np.ndarray[Any, Any]) -> WindowResult:
        offset = float(job.item.offset)
        duration = job.nframes / self._model.frames_per_second
        last_speech = offset if job.item.last_speech is None else float(job.item.last_speech)
        best = job.best or _Attempt([], 0.0, 0.0, 1.0, 0.0)
        skipped = job.best is None or _skipped(job.options, best)
        raw = [] if skipped else self._split(job, best.tokens)
        if raw and job.options.word_timestamps:
            last_speech = float(
                self._model.add_word_timestamps(
                    [raw],
                    job.tokenizer,
                    _storage(encoded[job.row : job.row + 1]),
                    job.nframes,
                    PREPEND_PUNCTUATIONS,
                    APPEND_PUNCTUATIONS,
                    last_speech,
                )
            )
            self._seek_to_last_word(job, raw)
        end = offset + duration
        fps = self._model.frames_per_second
        segments = [s for s in (self._segment(job, r, offset, end) for r in raw) if s is not None]
        if len(segments) > 1 and self._language_changed(job):
            segments = self._segment_languages(job, segments)
        return WindowResult(
            offset=offset,
            duration=duration,
            language=job.language or "en",
            language_probability=job.language_probability,
            temperature=best.temperature,
            avg_logprob=best.avg_logprob,
            compression_ratio=best.compression_ratio,
            no_speech_prob=best.no_speech_prob,
            skipped=skipped,
            last_speech=min(last_speech, end),
            segments=segments,
            consumed=end if job.consumed_frames is None else offset + job.consumed_frames / fps,
        )

    def _seek_to_last_word(self, job: _Job, raw: list[dict[str, Any]]) -> None:
        """Where the model left a window unfinished, the next window starts at the end of its last
        word, not at its last timestamp token: sequential decoding with word timestamps seeks there
        (faster-whisper 1.2.1's `generate_segments`). Measured on the four long benchmark files in
        process: WER against sequential decoding 0.049 / 0.241 / 0.056 / 0.196 with the timestamp
        token, 0.024 / 0.176 / 0.080 / 0.168 with the last word (benchmarks/README.md, seventh session)."""
        if job.consumed_frames is None:
            return
        ends = [float(w["end"]) for s in raw for w in s.get("words") or ()]
        if not ends:
            ends = [float(s["end"]) for s in raw]
        if not ends:
            return
        offset = float(job.item.offset)
        frames = round(ends[-1] * self._model.frames_per_second) - round(offset * self._model.frames_per_second)
        if MIN_SEEK_FRAMES <= frames < job.nframes:
            job.consumed_frames = frames

    def _segment_languages(self, job: _Job, segments: list[DecodedSegment]) -> list[DecodedSegment]:
        """Each segment's language from its own audio: one encoder pass per segment, only in the
        window where the recording's language changes."""
        from faster_whisper.audio import pad_or_trim

        samples = np.asarray(job.item.samples, dtype=np.float32).reshape(-1)
        offset = float(job.item.offset)
        spans = [(round((s.start - offset) * SAMPLE_RATE), round((s.end - offset) * SAMPLE_RATE)) for s in segments]
        features = [self._model.feature_extractor(samples[a : max(b, a + 400)])[..., :-1] for a, b in spans]
        batch = np.stack([pad_or_trim(f, N_FRAMES) for f in features])
        model = self._model.model
        encoded = model.encode(_storage(batch.astype(np.float32)), to_cpu=model.device == "cuda")
        found = model.detect_language(encoded)
        languages = _steady_languages(
            [str(ranked[0][0][2:-2]) for ranked in found], [s.end - s.start for s in segments]
        )
        return [
            msgspec.structs.replace(segment, language=language)
            for segment, language in zip(segments, languages, strict=True)
        ]

    def _split(self, job: _Job, tokens: list[int]) -> list[dict[str, Any]]:
        """Segments by timestamp pairs; unfinished text at the end is kept, up to the window's end."""
        offset = float(job.item.offset)
        duration = job.nframes / self._model.frames_per_second
        seek = round(offset * self._model.frames_per_second)
        raw, next_seek, _ = self._model._split_segments_by_timestamps(
            tokenizer=job.tokenizer,
            tokens=tokens,
            time_offset=offset,
            segment_size=job.nframes,
            segment_duration=duration,
            seek=seek,
        )
        advance = int(next_seek) - seek
        # Seek back for the rest, as sequential decoding does, unless the rest is the last second of
        # the recording: decoded alone, such a scrap of a recording's end gives a made-up word
        # ("Okay.") more often than a real one.
        scrap = job.item.final and job.nframes - advance < MIN_SEEK_FRAMES
        if job.item.seek and MIN_SEEK_FRAMES <= advance < job.nframes and not scrap:
            job.consumed_frames = advance  # the rest is decoded again from there, as sequential decoding does
            return [s for s in raw if s["start"] < offset + duration]
        tail = tokens[sum(len(s["tokens"]) for s in raw) :]
        tokenizer = job.tokenizer
        if any(t < tokenizer.eot for t in tail):
            stamps = [t - tokenizer.timestamp_begin for t in tail if t >= tokenizer.timestamp_begin]
            start = offset + stamps[0] * self._model.time_precision if stamps else (raw[-1]["end"] if raw else offset)
            raw.append(dict(seek=seek, start=start, end=offset + duration, tokens=tail))
        end = offset + duration
        kept = [s for s in raw if s["start"] < end]
        for s in kept:
            s["end"] = min(s["end"], end)
        return kept

    @staticmethod
    def _segment(job: _Job, raw: dict[str, Any], offset: float, end: float) -> DecodedSegment | None:
        text = str(job.tokenizer.decode(raw["tokens"]))
        start, stop = max(float(raw["start"]), offset), min(float(raw["end"]), end)
        if not text.strip() or start >= stop:
            return None  # as faster-whisper: empty text or zero length

        def clamp(t: Any) -> float:
            return min(max(float(t), offset), end)

        words = [
            DecodedWord(
                word=str(w["word"]), start=clamp(w["start"]), end=clamp(w["end"]), probability=float(w["probability"])
            )
            for w in raw.get("words") or ()
        ]
        return DecodedSegment(start=start, end=stop, text=text, tokens=[int(t) for t in raw["tokens"]], words=words)
