"""Vocabularies: names and product terms the model mishears, fixed across a whole file.

- A vocabulary belongs to a tenant: a `name`, `phrases` (terms to favour while decoding, given to
  faster-whisper as `hotwords`) and `replacements` (`heard` → `written`, made on every window's
  words and segment text). An upload names one with `vocabulary_id`; the worker loads it by id.
- Limits: name 1-100 characters; up to 100 phrases of 1-100; up to 200 replacements, `heard`
  1-100 (one or more words, each `heard` once, ignoring case and punctuation), `written` 0-100
  (empty removes the words); up to 100 vocabularies per tenant.

Modules: `model` (the Structs, limits and validation), `words` (how a word is read for matching),
`apply` (hotwords and replacements, pure), `store` (Redis, with a copy in object storage). The
store is imported from `engine.vocabularies.store`, not from here: recordings embed `Replacement`,
and the store depends on the index's backup, which depends on recordings.
"""

from engine.vocabularies.apply import HOTWORDS_MAX_CHARS, TimedWord, apply_replacements, apply_to_text, hotwords
from engine.vocabularies.model import (
    MAX_NAME,
    MAX_PHRASES,
    MAX_REPLACEMENTS,
    MAX_TEXT,
    MAX_VOCABULARIES,
    Replacement,
    Vocabulary,
    VocabularyFields,
    parse_fields,
)

__all__ = [
    "HOTWORDS_MAX_CHARS",
    "MAX_NAME",
    "MAX_PHRASES",
    "MAX_REPLACEMENTS",
    "MAX_TEXT",
    "MAX_VOCABULARIES",
    "Replacement",
    "TimedWord",
    "Vocabulary",
    "VocabularyFields",
    "apply_replacements",
    "apply_to_text",
    "hotwords",
    "parse_fields",
]
