"""Transcripts as SubRip, WebVTT and plain text (the `?format=` of the transcription route)."""

from __future__ import annotations

from engine.recordings.transcripts import Transcription

__all__ = ["FORMATS", "render"]

FORMATS = {
    "srt": "application/x-subrip; charset=utf-8",
    "vtt": "text/vtt; charset=utf-8",
    "text": "text/plain; charset=utf-8",
}


def _stamp(seconds: float, sep: str) -> str:
    ms = max(0, round(seconds * 1000))
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


def to_srt(t: Transcription) -> str:
    cues = [
        f"{n}\n{_stamp(seg.start, ',')} --> {_stamp(seg.end, ',')}\n{seg.text}\n"
        for n, seg in enumerate((s for s in t.segments if s.text), 1)
    ]
    return "\n".join(cues)


def to_vtt(t: Transcription) -> str:
    cues = [f"{_stamp(s.start, '.')} --> {_stamp(s.end, '.')}\n{s.text}\n" for s in t.segments if s.text]
    return "WEBVTT\n\n" + "\n".join(cues)


def render(t: Transcription, fmt: str) -> str:
    if fmt == "srt":
        return to_srt(t)
    if fmt == "vtt":
        return to_vtt(t)
    return t.text + "\n" if t.text else ""
