"""The window scheduler: one per worker process (per device), owner of the model.

Job threads (Dramatiq's) do everything around the model: download, probe, decode (as a stream of
blocks) and cut a recording into windows of at most 30 s at quiet points; after the model, the
same thread stores, indexes and publishes. One model thread takes the windows of every recording
in flight and decodes them together, `batch_size` at a time, with faster-whisper's per-window
quality fallback and word timestamps (`engine.transcription.decoder`). With work queued the model
never waits on S3, Redis or ffmpeg: those run on the job threads while it decodes others' windows.

Within one recording the windows go in order, as in sequential decoding: where the model leaves
the end of a window unfinished (it stops at its last complete timestamp), the next window starts
there, so no speech is skipped at a cut; where it closed its text and stopped seconds before the
end with speech still to come, the rest is decoded again (`_resume_at`). A window's features
reach a few samples past its edges into the recording, as they do in sequential decoding, and
digital silence before sound is a window of its own, so the model never opens on seconds of
nothing. Across recordings they are batched. No audio is
discarded: every sample lies in some window (Silero VAD only when the user asks for `vad_filter`).

Memory is bounded: a recording holds at most one window plus one decoded block, and at most
`max_queued` windows wait for the model. Progress is reported by the job thread, so its Redis
writes never stall the model. A window's result depends only on its own audio and options, never
on its batch-mates, so a recording's transcript is the same whatever else was in flight.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple

import numpy as np

from engine.transcription.decoder import (
    CONTEXT_AFTER,
    CONTEXT_BEFORE,
    HOP,
    WindowDecoder,
    WindowItem,
    WindowOptions,
    WindowResult,
    loudest_feature,
    to_transcript,
)
from engine.transcription.guard import collapse_repetitions, guard_window
from engine.transcription.refine import SpeechMask, refine_words, speech_mask
from engine.transcription.whisper import Progress, TranscribeOptions, TranscriptResult, WhisperTranscriber
from engine.transcription.windows import cut_windows

__all__ = ["WindowScheduler"]

log = logging.getLogger("earshot.scheduler")
SAMPLE_RATE = 16000
PREVIOUS_TOKENS = 223
"""What faster-whisper keeps of the previous text (half the decoder's 448 positions, less one)."""
PROMPT_RESET_TEMPERATURE = 0.5
SILENCE_LEVEL = 1e-4
"""-80 dBFS: a window whose loudest sample is below this is digital silence and skips the model."""
UNHEARD_SECONDS = 5.0
"""Audio left after a window's text closed, or before text that starts late, that is decoded again..."""
UNHEARD_SPEECH = 1.0
"""...if this much of it is speech (less is a breath or the tail of a word, not worth a model call)."""
SILENCE_LEAD = SAMPLE_RATE // 4
"""Digital silence kept at the start of a window that begins with it (250 ms)."""


@dataclass(eq=False)
class _Pending:
    """One window waiting for the model, and its outcome."""

    item: WindowItem
    done: threading.Event = field(default_factory=threading.Event)
    result: WindowResult | None = None
    error: BaseException | None = None


class _Span(NamedTuple):
    """The next window of a recording and the audio either side of it."""

    start: int
    """Its first sample's index in the recording."""
    samples: np.ndarray[Any, Any]
    final: bool
    """It reaches the end of the recording."""
    before: np.ndarray[Any, Any]
    after: np.ndarray[Any, Any]


class _Cursor:
    """A recording's audio from the current position on: blocks are read as windows need them,
    and what lies before the position (less the few samples a window's features reach back to)
    is let go."""

    def __init__(self, blocks: Iterator[np.ndarray[Any, Any]], max_seconds: float) -> None:
        self._blocks = blocks
        self._max_len = int(max_seconds * SAMPLE_RATE)
        self._max_seconds = max_seconds
        self._buffer = np.zeros(0, dtype=np.float32)
        self._base = 0  # sample index of _buffer[0]
        self._eof = False
        self.position = 0

    @property
    def total(self) -> int:
        return self._base + len(self._buffer)

    def next_window(self) -> _Span | None:
        """The next window: up to `max_seconds` from the position, cut at the quietest point near
        its end unless the audio ends first."""
        self._fill()
        here = self.position - self._base
        head = self._buffer[here:]
        if len(head) == 0:
            return None
        before = self._buffer[max(0, here - CONTEXT_BEFORE) : here]
        # Digital silence before sound is a window of its own (no model call), so that the window
        # with the sound starts just before it: Whisper's first timestamp must fall in the first
        # second, and a window opening on 25 s of nothing failed at every temperature.
        loud = np.flatnonzero(np.abs(head[: self._max_len]) >= SILENCE_LEVEL)
        if len(loud) and loud[0] >= SILENCE_LEAD + SAMPLE_RATE:
            end = (loud[0] - SILENCE_LEAD) // HOP * HOP
            return _Span(self.position, head[:end], False, before, head[end : end + CONTEXT_AFTER])
        if len(head) <= self._max_len:  # `_fill` stops short of more only at the end of the audio
            return _Span(self.position, head, True, before, head[:0])
        end = cut_windows(head[: self._max_len + 1], max_seconds=self._max_seconds)[0].end
        return _Span(self.position, head[:end], False, before, head[end : end + CONTEXT_AFTER])

    def advance_to(self, sample: int) -> None:
        self.position = min(max(sample, self.position + 1), self.total)
        keep = max(self._base, self.position - CONTEXT_BEFORE)
        self._buffer, self._base = self._buffer[keep - self._base :].copy(), keep

    def _fill(self) -> None:
        parts = [self._buffer]
        have = self.total - self.position
        while not self._eof and have <= self._max_len + CONTEXT_AFTER:
            block = next(self._blocks, None)
            if block is None:
                self._eof = True
                break
            part = np.asarray(block, dtype=np.float32).reshape(-1)
            parts.append(part)
            have += len(part)
        if len(parts) > 1:
            self._buffer = np.concatenate(parts)


class WindowScheduler:
    """A `Transcriber` whose model calls are batches of windows from every recording in flight."""

    def __init__(
        self,
        inner: WhisperTranscriber,
        *,
        batch_size: int = 4,
        model_threads: int = 1,
        max_window_s: float = 30.0,
        autostart: bool = True,
    ) -> None:
        self.name = inner.name
        self.device = inner.device
        self.compute_type = inner.compute_type
        self._inner = inner
        self._batch_size = max(1, batch_size)
        self._max_window_s = max_window_s
        # Each recording has at most one window waiting, so the queue is bounded by the job threads.
        self._queue: queue.Queue[_Pending] = queue.Queue()
        self._lock = threading.Lock()
        self.batches: list[int] = []
        """Sizes of the last 1000 batches decoded (for tests and metrics)."""
        self._model_threads = max(1, model_threads)
        if autostart:
            self.start()

    def start(self) -> None:
        """Start the model threads (a test may queue windows first, to see them share a batch)."""
        for n in range(self._model_threads):
            # One decoder per model thread (tokenizer caches are not shared); the weights are.
            decoder = WindowDecoder.from_transcriber(self._inner)
            threading.Thread(target=self._model_loop, args=(decoder,), name=f"earshot-model-{n}", daemon=True).start()

    # -- the job threads' side ---------------------------------------------------------------

    def transcribe(
        self, audio: np.ndarray[Any, Any], options: TranscribeOptions, on_progress: Progress | None = None
    ) -> TranscriptResult:
        if options.vad_filter:
            # The user asked for Silero VAD to skip non-speech: faster-whisper's own path does that.
            return self._inner.transcribe(audio, options, on_progress)
        seconds = len(audio) / SAMPLE_RATE
        ceiling = self._ceiling(lambda: _pieces(audio), seconds)
        return self._run(iter([audio]), options, on_progress, seconds, ceiling)

    def transcribe_stream(
        self,
        blocks: Callable[[], Iterable[np.ndarray[Any, Any]]],
        options: TranscribeOptions,
        on_progress: Progress | None = None,
        expected_seconds: float | None = None,
    ) -> TranscriptResult:
        """Like `transcribe`, for audio that arrives in blocks (a long file decoded as a stream):
        memory stays flat whatever the length. `blocks` opens the stream; a recording longer than
        one window is read twice, first for its loudest level (`loudest_feature`)."""
        if options.vad_filter:
            return self._inner.transcribe(np.concatenate(list(blocks())), options, on_progress)
        ceiling = self._ceiling(blocks, expected_seconds)
        return self._run(iter(blocks()), options, on_progress, expected_seconds, ceiling)

    def _ceiling(self, blocks: Callable[[], Iterable[np.ndarray[Any, Any]]], seconds: float | None) -> float | None:
        """The recording's loudest log-mel level, which sequential decoding's features are floored
        against; None for a recording of one window (whose own level is the recording's; not
        measured, so that it stays exactly faster-whisper's; `_run` also floors a recording that
        turns out to be one window against its own level, where the expected length was wrong)."""
        if seconds is not None and seconds <= self._max_window_s:
            return None
        return loudest_feature(self._inner.model.feature_extractor, blocks())

    def _run(
        self,
        blocks: Iterator[np.ndarray[Any, Any]],
        options: TranscribeOptions,
        on_progress: Progress | None,
        expected_seconds: float | None,
        ceiling: float | None = None,
    ) -> TranscriptResult:
        cursor = _Cursor(blocks, self._max_window_s)
        window_options = WindowOptions.of(options)
        results: list[WindowResult] = []
        raw_results: list[WindowResult] = []
        last_speech: float | None = None
        # Conditioning on previous text as sequential decoding does (faster-whisper's defaults):
        # the initial prompt, then every window's tokens, forgotten after a window that needed a
        # temperature above 0.5.
        prompt: str | None = options.initial_prompt
        previous: tuple[int, ...] = ()
        language: str | None = None  # of the text in `previous`
        while (window := cursor.next_window()) is not None:
            start, samples = window.start, window.samples
            item = WindowItem(
                samples=samples,
                offset=start / SAMPLE_RATE,
                options=window_options,
                prompt=prompt,
                previous_tokens=previous[-PREVIOUS_TOKENS:],
                last_speech=last_speech,
                previous_language=language if (prompt or previous) else None,
                seek=True,
                final=window.final,
                before=window.before,
                after=window.after,
                # A recording's one window is floored against its own level, as faster-whisper does.
                ceiling=None if window.final and start == 0 else ceiling,
            )
            result = _silent(item) if _is_digital_silence(samples) else self._decode_one(item)
            mask = speech_mask(samples, offset=item.offset)
            second_chance = _starts_late(item, result, mask)
            if second_chance:
                # Conditioned on the text before, the model passed over the speech at the window's
                # start (seen where the recording repeats what was said earlier): once more without it.
                again = self._decode_one(replace(item, prompt=None, previous_tokens=(), previous_language=None))
                if _heard_from(again) < _heard_from(result):
                    result = again
            # The hallucination guard before the text conditions the next window; word times
            # refined from the audio, the model's own kept beside them (engine.transcription.refine).
            result = guard_window(result, samples, mask=mask)
            raw_results.append(result)
            result = refine_words(result, samples, mask=mask)
            results.append(result)
            last_speech = result.last_speech
            if result.segments:
                if result.language != language:  # decoded without the other language's text
                    prompt, previous = None, ()
                language = result.language
            previous = (*previous, *(token for s in result.segments for token in s.tokens))
            if result.temperature > PROMPT_RESET_TEMPERATURE:
                prompt, previous = None, ()
            # A window decoded twice already is not given a third chance at what it left unheard
            # (crosstalk the model cannot make out would otherwise cost two more calls per window).
            resume = raw_results[-1].consumed if second_chance else _resume_at(item, raw_results[-1], mask)
            consumed = round(resume * SAMPLE_RATE)
            # A window the model accounts for none of (too short to hold a frame) is done with.
            cursor.advance_to(consumed if consumed > start else start + len(samples))
            if on_progress is not None and expected_seconds:
                on_progress(min(cursor.position / SAMPLE_RATE / expected_seconds, 0.99))
        return _assemble(results, raw_results, cursor.total / SAMPLE_RATE, options)

    def _decode_one(self, item: WindowItem) -> WindowResult:
        pending = _Pending(item)
        self._queue.put(pending)
        pending.done.wait()
        if pending.error is not None:
            raise pending.error
        assert pending.result is not None
        return pending.result

    # -- the model thread ----------------------------------------------------------------------

    def _model_loop(self, decoder: WindowDecoder) -> None:
        while True:
            batch = [self._queue.get()]
            while len(batch) < self._batch_size:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            self._decode(decoder, batch)

    def _decode(self, decoder: WindowDecoder, batch: list[_Pending]) -> None:
        started = time.perf_counter()
        try:
            results = decoder.decode([p.item for p in batch])
        except Exception as exc:  # one bad batch fails its recordings, never the model thread
            log.exception("window batch failed", extra={"windows": len(batch)})
            for pending in batch:
                pending.error = exc
                pending.done.set()
            return
        with self._lock:
            self.batches = [*self.batches[-999:], len(batch)]
        for pending, result in zip(batch, results, strict=True):
            pending.result = result
            pending.done.set()
        log.debug("batch", extra={"windows": len(batch), "ms": int((time.perf_counter() - started) * 1000)})


def _resume_at(item: WindowItem, result: WindowResult, mask: SpeechMask) -> float:
    """Where the next window starts: where the model says this one's text ends, except where it
    closed its text and stopped long before the window's end with speech still to come. Seen: a
    window whose language changed from English to German gave its first 3 s and ended, and
    sequential decoding would have skipped the next 20 s of German; that rest is decoded again."""
    end = item.offset + len(item.samples) / SAMPLE_RATE
    if not result.segments or result.consumed < end - 0.01:
        return result.consumed
    last = result.segments[-1].end
    if last - item.offset >= 1.0 and end - last >= UNHEARD_SECONDS and mask.seconds(last + 0.5, end) >= UNHEARD_SPEECH:
        return last
    return result.consumed


def _heard_from(result: WindowResult) -> float:
    """Where the window's text starts (its end if it has none)."""
    return result.segments[0].start if result.segments else result.offset + result.duration


def _starts_late(item: WindowItem, result: WindowResult, mask: SpeechMask) -> bool:
    """The window was decoded after previous text and its own text starts `UNHEARD_SECONDS` or
    more after its start, or not at all, though there is speech before that (`UNHEARD_SPEECH` of it).

    Not where the model needed a temperature over `PROMPT_RESET_TEMPERATURE`: there it could not make
    out the audio itself (crosstalk, noise), the previous text is not what it stumbled on, and a
    second decode runs the whole temperature ladder again for nothing (measured: the rotated long
    file's crosstalk window, 15 s up to 0.8 then 5 s more without the text, both with no words)."""
    if not (item.prompt or item.previous_tokens) or result.temperature > PROMPT_RESET_TEMPERATURE:
        return False
    first = _heard_from(result)
    return first - item.offset >= UNHEARD_SECONDS and mask.seconds(item.offset, first - 0.5) >= UNHEARD_SPEECH


def _pieces(audio: np.ndarray[Any, Any], seconds: float = 30.0) -> Iterator[np.ndarray[Any, Any]]:
    step = int(seconds * SAMPLE_RATE)
    return (audio[at : at + step] for at in range(0, len(audio), step))


def _is_digital_silence(samples: np.ndarray[Any, Any]) -> bool:
    """Nothing above -80 dBFS: no model call can find words here (Whisper would say "you")."""
    return len(samples) == 0 or float(np.max(np.abs(samples))) < SILENCE_LEVEL


def _silent(item: WindowItem) -> WindowResult:
    duration = len(item.samples) / SAMPLE_RATE
    return WindowResult(
        offset=item.offset,
        duration=duration,
        language=item.options.language or "",
        language_probability=0.0,
        temperature=0.0,
        avg_logprob=0.0,
        compression_ratio=0.0,
        no_speech_prob=1.0,
        skipped=True,
        last_speech=item.last_speech if item.last_speech is not None else item.offset,
        segments=[],
        consumed=item.offset + duration,
    )


def _assemble(
    results: list[WindowResult], raw_results: list[WindowResult], heard_seconds: float, options: TranscribeOptions
) -> TranscriptResult:
    segments, words = to_transcript(collapse_repetitions(results))
    raw_words = to_transcript(collapse_repetitions(raw_results))[1]
    if not options.word_timestamps:
        words, raw_words = [], []
    heard = [r for r in results if r.language]
    language = heard[0].language if heard else options.language
    probability = heard[0].language_probability if heard else None
    return TranscriptResult(
        text=" ".join(s.text for s in segments if s.text).strip(),
        language=language,
        language_probability=probability,
        duration=round(heard_seconds, 3),
        words=words,
        segments=segments,
        raw_words=raw_words,
    )
