"""engine.vocabularies.apply: hotwords for decoding, replacements on decoded words and segment text."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from engine.recordings.transcripts import Word
from engine.transcription.decoder import DecodedWord
from engine.vocabularies.apply import HOTWORDS_MAX_CHARS, apply_replacements, apply_to_text, hotwords
from engine.vocabularies.model import Replacement, Vocabulary

NOW = datetime(2025, 10, 6, tzinfo=UTC)


def vocabulary(phrases: list[str], replacements: dict[str, str] | None = None) -> Vocabulary:
    return Vocabulary(
        id="6a1d0f0e-7d43-4b2a-9a53-9f5a54e7c0a1",
        tenant_id="t",
        name="terms",
        phrases=phrases,
        replacements=rules(replacements or {}),
        created_at=NOW,
        updated_at=NOW,
    )


def rules(pairs: dict[str, str]) -> list[Replacement]:
    return [Replacement(heard=h, written=w) for h, w in pairs.items()]


def decoded(text: str, probabilities: list[float] | None = None) -> list[DecodedWord]:
    """Whisper's words for `text`: each with its leading space, one second apart."""
    tokens = text.split()
    probs = probabilities or [0.9] * len(tokens)
    return [
        DecodedWord(word=" " + t, start=float(i), end=i + 0.5, probability=p)
        for i, (t, p) in enumerate(zip(tokens, probs, strict=True))
    ]


def text_of(words: list[DecodedWord]) -> str:
    return "".join(w.word for w in words)


# -- hotwords ------------------------------------------------------------------------------------


def test_hotwords_are_the_phrases_then_the_written_forms_joined_by_commas() -> None:
    v = vocabulary(["Earshot", "Litestar"], {"cooper netties": "Kubernetes", "um": ""})

    assert hotwords(v) == "Earshot, Litestar, Kubernetes"


def test_hotwords_name_each_term_once_whatever_its_case() -> None:
    v = vocabulary(["Kubernetes", "Redis"], {"cooper netties": "kubernetes", "read is": "Redis"})

    assert hotwords(v) == "Kubernetes, Redis"


def test_a_vocabulary_with_nothing_to_favour_has_no_hotwords() -> None:
    assert hotwords(vocabulary([])) is None
    assert hotwords(vocabulary([], {"um": "", "uh": ""})) is None


def test_hotwords_keep_whole_terms_from_the_first_within_the_budget() -> None:
    terms = [f"Term{i:02d}-{'x' * 40}" for i in range(10)]  # 47 characters each

    result = hotwords(vocabulary(terms))

    assert result is not None
    assert len(result) <= HOTWORDS_MAX_CHARS
    assert result.split(", ") == terms[:4]  # 4 terms of 47 and 3 separators: 194; a fifth would pass 200


def test_a_smaller_budget_keeps_fewer_terms() -> None:
    assert hotwords(vocabulary(["Earshot", "Litestar", "msgspec"]), max_chars=20) == "Earshot, Litestar"


# -- apply_replacements: single words --------------------------------------------------------------


def test_a_heard_word_is_replaced_keeping_its_space_and_punctuation() -> None:
    words = decoded('We run "cooper," daily.')

    out = apply_replacements(words, rules({"cooper": "Kubernetes"}))

    assert [w.word for w in out] == [" We", " run", ' "Kubernetes,"', " daily."]
    assert (out[2].start, out[2].end, out[2].probability) == (2.0, 2.5, 0.9)


def test_matching_ignores_case_and_writes_the_written_form_as_given() -> None:
    out = apply_replacements(decoded("EARSHOT and earshot and EarShot"), rules({"earshot": "Earshot"}))

    assert text_of(out) == " Earshot and Earshot and Earshot"


def test_a_heard_word_never_matches_part_of_a_longer_word() -> None:
    words = decoded("A category of cats, concatenated: cat.")

    out = apply_replacements(words, rules({"cat": "dog"}))

    assert text_of(out) == " A category of cats, concatenated: dog."


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        (" cooper", " Kubernetes"),
        (" cooper.", " Kubernetes."),
        (" cooper?!", " Kubernetes?!"),
        (" (cooper)", " (Kubernetes)"),
        (' "cooper."', ' "Kubernetes."'),
        (" ¿cooper?", " ¿Kubernetes?"),
        (" cooper…", " Kubernetes…"),
        ("cooper,", "Kubernetes,"),  # the transcript's words have no leading space
    ],
)
def test_punctuation_around_a_word_stays_around_its_replacement(word: str, expected: str) -> None:
    words = [DecodedWord(word=word, start=0.0, end=1.0, probability=0.8)]

    assert apply_replacements(words, rules({"cooper": "Kubernetes"}))[0].word == expected


def test_punctuation_in_heard_is_ignored_when_matching() -> None:
    out = apply_replacements(decoded("Ask mr smith now."), rules({"Mr. Smith": "Mr Smith"}))

    assert text_of(out) == " Ask Mr Smith now."


def test_punctuation_inside_a_word_is_part_of_it() -> None:
    words = decoded("don't dont e-mail email")

    out = apply_replacements(words, rules({"dont": "do not", "email": "e-mail"}))

    assert text_of(out) == " don't do not e-mail e-mail"


def test_untouched_words_are_the_same_objects() -> None:
    words = decoded("nothing to see here")

    out = apply_replacements(words, rules({"cooper": "Kubernetes"}))

    assert out == words and all(a is b for a, b in zip(out, words, strict=True))


def test_no_replacements_or_no_words_change_nothing() -> None:
    words = decoded("hello there")

    assert apply_replacements(words, []) == words
    assert apply_replacements([], rules({"a": "b"})) == []


def test_matching_is_unicode_aware() -> None:
    out = apply_replacements(decoded("Frau MÜLLER kommt"), rules({"müller": "Müller-Lüdenscheidt"}))

    assert text_of(out) == " Frau Müller-Lüdenscheidt kommt"


# -- apply_replacements: several words -------------------------------------------------------------


def test_a_heard_phrase_over_consecutive_words_becomes_one_word() -> None:
    words = decoded("deploy to cooper netties, today", [0.9, 0.8, 0.6, 0.4, 0.7])

    out = apply_replacements(words, rules({"cooper netties": "Kubernetes"}))

    assert [w.word for w in out] == [" deploy", " to", " Kubernetes,", " today"]
    merged = out[2]
    assert (merged.start, merged.end) == (2.0, 3.5)  # the first word's start, the last one's end
    assert merged.probability == 0.4  # the least sure of them


def test_the_opening_punctuation_of_the_first_word_and_the_closing_of_the_last_are_kept() -> None:
    out = apply_replacements(decoded('he said "cooper, netties." and left'), rules({"cooper netties": "Kubernetes"}))

    assert text_of(out) == ' he said "Kubernetes." and left'


def test_a_phrase_needs_every_word_in_order() -> None:
    replacements = rules({"cooper netties": "Kubernetes"})

    assert text_of(apply_replacements(decoded("cooper and netties"), replacements)) == " cooper and netties"
    assert text_of(apply_replacements(decoded("netties cooper"), replacements)) == " netties cooper"
    assert text_of(apply_replacements(decoded("the cooper"), replacements)) == " the cooper"


def test_the_longest_heard_wins_where_several_match() -> None:
    replacements = rules({"new york": "New York", "new york city": "NYC", "york": "YORK"})

    out = apply_replacements(decoded("new york city and new york and york"), replacements)

    assert text_of(out) == " NYC and New York and YORK"


def test_replaced_text_is_not_matched_again() -> None:
    replacements = rules({"a": "b", "b": "c"})

    assert text_of(apply_replacements(decoded("a b"), replacements)) == " b c"


def test_a_written_form_of_several_words_is_one_word() -> None:
    out = apply_replacements(decoded("use k8s now"), rules({"k8s": "Kubernetes cluster"}))

    assert [w.word for w in out] == [" use", " Kubernetes cluster", " now"]


def test_a_multi_word_match_at_the_very_end_is_found() -> None:
    out = apply_replacements(decoded("we love cooper netties"), rules({"cooper netties": "Kubernetes"}))

    assert text_of(out) == " we love Kubernetes" and out[-1].end == 3.5


# -- apply_replacements: removing words ------------------------------------------------------------


def test_an_empty_written_form_removes_the_words() -> None:
    out = apply_replacements(decoded("so um we uh go"), rules({"um": "", "uh": ""}))

    assert text_of(out) == " so we go"
    assert [w.start for w in out] == [0.0, 2.0, 4.0]


def test_removing_words_keeps_the_comma_of_the_word_before() -> None:
    out = apply_replacements(decoded("So, um, we go."), rules({"um": ""}))

    assert text_of(out) == " So, we go."


def test_a_removed_word_that_ended_a_sentence_moves_the_end_to_the_word_before() -> None:
    assert text_of(apply_replacements(decoded("we are done um. Next"), rules({"um": ""}))) == " we are done. Next"
    assert text_of(apply_replacements(decoded("we are done, um. Next"), rules({"um": ""}))) == " we are done. Next"
    assert text_of(apply_replacements(decoded("are we done? um."), rules({"um": ""}))) == " are we done?"


def test_a_removed_word_that_opened_a_quote_leaves_it_to_the_word_after() -> None:
    replacements = rules({"um": "", "uh": ""})

    assert (
        text_of(apply_replacements(decoded('he said "um, uh, hello" twice'), replacements)) == ' he said "hello" twice'
    )
    assert text_of(apply_replacements(decoded("(um cooper)"), rules({"um": "", "cooper": "K8s"}))) == " (K8s)"
    assert apply_to_text('"Um, hello."', replacements) == '"hello."'


def test_removing_the_first_words_or_every_word() -> None:
    replacements = rules({"um": "", "uh huh": ""})

    assert text_of(apply_replacements(decoded("Um. Hello"), replacements)) == " Hello"
    assert apply_replacements(decoded("um uh huh um"), replacements) == []


# -- apply_replacements: the transcript's words ----------------------------------------------------


def test_the_transcripts_words_keep_their_type_and_their_lowest_confidence() -> None:
    words = [
        Word(word="cooper", start=1.0, end=1.4, confidence=0.5),
        Word(word="netties.", start=1.4, end=2.0, confidence=0.3),
    ]

    out = apply_replacements(words, rules({"cooper netties": "Kubernetes"}))

    assert out == [Word(word="Kubernetes.", start=1.0, end=2.0, confidence=0.3)]


def test_words_that_are_not_msgspec_structs_are_refused_when_they_would_change() -> None:
    @dataclass
    class Plain:
        word: str
        start: float
        end: float

    with pytest.raises(TypeError):
        apply_replacements([Plain(" cooper", 0.0, 1.0)], rules({"cooper": "Kubernetes"}))


# -- apply_to_text ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        ' So, um, we run "cooper, Netties." on new york city servers, um. A category cat.',
        "Um. Hello cat",
        " um uh huh",
        "cat",
        " Kubernetes is fine.",
        "   spaced   out   cooper    netties  ",
    ],
)
def test_segment_text_and_its_words_say_the_same_after_replacement(text: str) -> None:
    replacements = rules(
        {"cooper netties": "Kubernetes", "um": "", "uh huh": "", "cat": "CAT", "new york city": "the Big Apple"}
    )
    words = [DecodedWord(word=" " + t, start=0.0, end=1.0, probability=0.9) for t in text.split()]

    from_words = text_of(apply_replacements(words, replacements))

    assert apply_to_text(text, replacements).split() == from_words.split()


def test_apply_to_text_keeps_the_texts_own_spacing() -> None:
    replacements = rules({"cooper netties": "Kubernetes", "um": ""})

    assert apply_to_text(" Deploy to cooper netties now. ", replacements) == " Deploy to Kubernetes now. "
    assert apply_to_text("Um, deploy", replacements) == "deploy"
    assert apply_to_text(" Um, deploy", replacements) == " deploy"


def test_apply_to_text_matches_whole_words_only() -> None:
    assert apply_to_text("The category of cat-like cats.", rules({"cat": "dog"})) == "The category of cat-like cats."


def test_apply_to_text_with_nothing_to_do_returns_the_text() -> None:
    assert apply_to_text("", rules({"a": "b"})) == ""
    assert apply_to_text("   ", rules({"a": "b"})) == "   "
    assert apply_to_text("hello", []) == "hello"


def test_text_of_removed_words_only_is_empty() -> None:
    assert apply_to_text(" um, uh huh.", rules({"um": "", "uh huh": ""})) == ""
