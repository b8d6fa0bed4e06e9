"""How a word of a transcript is read for matching: its spacing, punctuation, and a comparison key.

Whisper writes a word with its leading space and the punctuation it attached (` "Kubernetes,"`);
the punctuation sets are faster-whisper's own (the ones it merges into words), plus `;`, `…`,
curly quotes and guillemets, which it leaves in the word text.
"""

from __future__ import annotations

import unicodedata
from typing import NamedTuple

__all__ = ["APPEND_PUNCTUATION", "PREPEND_PUNCTUATION", "SENTENCE_END", "Parts", "heard_keys", "key_of", "parts"]

PREPEND_PUNCTUATION = "\"'“‘«¿¡([{-"  # noqa: RUF001 - typographic quotes on purpose
APPEND_PUNCTUATION = "\"'.。,，!！?？:：;；”’»)]}、…"  # noqa: RUF001 - full-width and typographic on purpose
SENTENCE_END = frozenset(".。!！?？…")  # noqa: RUF001


class Parts(NamedTuple):
    """A word's text in four pieces that concatenate back to it."""

    space: str
    lead: str
    """Punctuation before the word (an opening quote or bracket)."""
    core: str
    trail: str
    """Punctuation (and any whitespace) after it."""


def parts(text: str) -> Parts:
    body = text.lstrip()
    space = text[: len(text) - len(body)]
    after_lead = body.lstrip(PREPEND_PUNCTUATION)
    lead = body[: len(body) - len(after_lead)]
    core = after_lead.rstrip(APPEND_PUNCTUATION + " \t\r\n")
    return Parts(space, lead, core, after_lead[len(core) :])


def key_of(core: str) -> str:
    """What two spellings of a word must share to match: compatible Unicode form, no case."""
    return unicodedata.normalize("NFKC", core).casefold()


def heard_keys(heard: str) -> tuple[str, ...]:
    """The keys of `heard`'s words, split on whitespace; words of punctuation alone are left out."""
    keys = (key_of(parts(token).core) for token in heard.split())
    return tuple(k for k in keys if k)
