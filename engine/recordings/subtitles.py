"""Transcripts as SubRip, WebVTT and plain text (the `?format=` of the transcription route).

With speakers (`diarize=true`) or channels (`channels=split`), every cue says whose it is: SRT
and text lines start `Speaker 1: `, WebVTT cues carry a voice tag, `<v Speaker 1>`. A segment whose
words change speaker becomes one cue per speaker.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.recordings.transcripts import Segment, Transcription, Word, join_words

__all__ = ["FORMATS", "label_of", "render"]

FORMATS = {
    "srt": "application/x-subrip; charset=utf-8",
    "vtt": "text/vtt; charset=utf-8",
    "text": "text/plain; charset=utf-8",
}


@dataclass(frozen=True, slots=True)
class _Cue:
    start: float
    end: float
    text: str
    label: str | None


def label_of(speaker: str | None, channel: int | None) -> str | None:
    """`Speaker 2`, `Channel 0`, or None when the transcript has neither."""
    if speaker is not None:
        return speaker
    if channel is not None:
        return f"Channel {channel}"
    return None


def _stamp(seconds: float, sep: str) -> str:
    ms = max(0, round(seconds * 1000))
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


def _cues(t: Transcription) -> list[_Cue]:
    segments = [s for s in t.segments if s.text]
    labelled = any(label_of(s.speaker, s.channel) for s in segments) or any(
        label_of(w.speaker, w.channel) for w in t.words
    )
    if not labelled or not t.words:
        return [_Cue(s.start, s.end, s.text, label_of(s.speaker, s.channel)) for s in segments]
    cues: list[_Cue] = []
    words = sorted(t.words, key=lambda w: w.start)
    taken = [False] * len(words)
    i = 0
    for segment in segments:
        own: list[Word] = []
        # A segment's words: those of its channel starting within it (channels overlap in time),
        # a zero-length word at its very end included, each word in one segment only.
        while i < len(words) and words[i].start < segment.start - 0.01:
            i += 1
        j = i
        while j < len(words) and (words[j].start < segment.end or words[j].end <= segment.end):
            if words[j].channel == segment.channel and not taken[j]:
                own.append(words[j])
                taken[j] = True
            j += 1
        cues.extend(_split(segment, own))
    return cues


def _split(segment: Segment, words: list[Word]) -> list[_Cue]:
    """The segment as one cue per run of one speaker's words (whole, without words)."""
    if not words:
        return [_Cue(segment.start, segment.end, segment.text, label_of(segment.speaker, segment.channel))]
    runs: list[list[Word]] = []
    for word in words:
        if runs and (runs[-1][-1].speaker, runs[-1][-1].channel) == (word.speaker, word.channel):
            runs[-1].append(word)
        else:
            runs.append([word])
    if len(runs) == 1:
        return [_Cue(segment.start, segment.end, segment.text, label_of(words[0].speaker, words[0].channel))]
    return [
        _Cue(run[0].start, run[-1].end, join_words(w.word for w in run), label_of(run[0].speaker, run[0].channel))
        for run in runs
    ]


def to_srt(t: Transcription) -> str:
    cues = [
        f"{n}\n{_stamp(c.start, ',')} --> {_stamp(c.end, ',')}\n{f'{c.label}: ' if c.label else ''}{c.text}\n"
        for n, c in enumerate(_cues(t), 1)
    ]
    return "\n".join(cues)


def _vtt_escaped(text: str) -> str:
    """Cue text as WebVTT reads it: `&`, `<` and `>` as character references (a bare `<` opens a
    tag, and `-->` would end the cue's text)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def to_vtt(t: Transcription) -> str:
    cues = [
        f"{_stamp(c.start, '.')} --> {_stamp(c.end, '.')}\n"
        f"{f'<v {_vtt_escaped(c.label)}>' if c.label else ''}{_vtt_escaped(c.text)}\n"
        for c in _cues(t)
    ]
    return "WEBVTT\n\n" + "\n".join(cues)


def to_text(t: Transcription) -> str:
    if t.utterances:
        lines = [f"{label_of(u.speaker, u.channel) or ''}: {u.text}".lstrip(": ") for u in t.utterances if u.text]
        return "\n".join(lines) + "\n" if lines else ""
    return t.text + "\n" if t.text else ""


def render(t: Transcription, fmt: str) -> str:
    if fmt == "srt":
        return to_srt(t)
    if fmt == "vtt":
        return to_vtt(t)
    return to_text(t)
