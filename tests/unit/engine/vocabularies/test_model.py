"""engine.vocabularies.model: what a valid vocabulary is, and every refusal naming its field."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime

import msgspec
import pytest

from engine.errors import InvalidParameter
from engine.vocabularies.model import (
    MAX_PHRASES,
    MAX_REPLACEMENTS,
    Replacement,
    Vocabulary,
    VocabularyFields,
    parse_fields,
)
from engine.vocabularies.words import heard_keys, parts
from tests.conftest import ROOT


def refusal(payload: object, base: VocabularyFields | None = None) -> str:
    with pytest.raises(InvalidParameter) as caught:
        parse_fields(payload, base=base)
    return caught.value.message


def test_a_full_vocabulary_is_parsed_with_its_text_stripped() -> None:
    fields = parse_fields(
        {
            "name": "  Product terms ",
            "phrases": [" Earshot", "Litestar "],
            "replacements": [{"heard": " cooper  netties ", "written": " Kubernetes "}, {"heard": "um"}],
        }
    )

    assert fields == VocabularyFields(
        name="Product terms",
        phrases=("Earshot", "Litestar"),
        replacements=(
            Replacement(heard="cooper  netties", written="Kubernetes"),
            Replacement(heard="um", written=""),
        ),
    )


def test_replacements_may_be_one_object_of_heard_to_written_as_the_contract_shows() -> None:
    fields = parse_fields({"name": "n", "replacements": {"cooper netties": "Kubernetes", "um": ""}})

    assert fields.replacements == (
        Replacement(heard="cooper netties", written="Kubernetes"),
        Replacement(heard="um", written=""),
    )


def test_only_name_is_required_and_null_lists_are_empty() -> None:
    assert parse_fields({"name": "n"}) == VocabularyFields(name="n")
    assert parse_fields({"name": "n", "phrases": None, "replacements": None}) == VocabularyFields(name="n")
    assert refusal({"phrases": ["x"]}) == "name is required"


def test_a_partial_update_replaces_only_the_fields_given() -> None:
    base = VocabularyFields(name="old", phrases=("A",), replacements=(Replacement(heard="b", written="B"),))

    assert parse_fields({"phrases": ["C"]}, base=base) == VocabularyFields(
        name="old", phrases=("C",), replacements=base.replacements
    )
    assert parse_fields({"name": "new"}, base=base) == msgspec.structs.replace(base, name="new")
    assert parse_fields({}, base=base) == base
    assert refusal({"name": ""}, base=base).startswith("name must be")


@pytest.mark.parametrize("body", [[], "name", 3, None])
def test_a_body_that_is_not_an_object_is_refused(body: object) -> None:
    assert refusal(body) == "the body must be a JSON object"


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": "   "}, "name"),
        ({"name": "x" * 101}, "name"),
        ({"name": 7}, "name"),
        ({"name": "bad\nname"}, "name"),
        ({"name": "n", "phrases": "Earshot"}, "phrases"),
        ({"name": "n", "phrases": ["ok", ""]}, "phrases[1]"),
        ({"name": "n", "phrases": ["ok", "x" * 101]}, "phrases[1]"),
        ({"name": "n", "phrases": [3]}, "phrases[0]"),
        ({"name": "n", "phrases": ["tab\there"]}, "phrases[0]"),
        ({"name": "n", "replacements": "x"}, "replacements"),
        ({"name": "n", "replacements": ["x"]}, "replacements[0]"),
        ({"name": "n", "replacements": [{"written": "W"}]}, "replacements[0]"),
        ({"name": "n", "replacements": [{"heard": ""}]}, "replacements[0].heard"),
        ({"name": "n", "replacements": [{"heard": "x" * 101}]}, "replacements[0].heard"),
        ({"name": "n", "replacements": [{"heard": 5, "written": "W"}]}, "replacements[0].heard"),
        ({"name": "n", "replacements": [{"heard": "ok", "written": "x" * 101}]}, "replacements[0].written"),
        ({"name": "n", "replacements": [{"heard": "ok", "written": ["W"]}]}, "replacements[0].written"),
        ({"name": "n", "replacements": {"ok": 1}}, "replacements[0].written"),
        ({"name": "n", "replacements": [{"heard": "ok"}, {"heard": "?!", "written": "W"}]}, "replacements[1].heard"),
    ],
)
def test_each_bad_field_is_refused_naming_it(payload: dict[str, object], field: str) -> None:
    assert refusal(payload).startswith(field + " ")


def test_at_most_100_phrases_and_200_replacements() -> None:
    phrases = [f"p{i}" for i in range(MAX_PHRASES)]
    heards = [{"heard": f"h{i}", "written": "W"} for i in range(MAX_REPLACEMENTS)]

    fields = parse_fields({"name": "n", "phrases": phrases, "replacements": heards})

    assert len(fields.phrases) == 100 and len(fields.replacements) == 200
    assert "at most 100" in refusal({"name": "n", "phrases": [*phrases, "one more"]})
    assert "at most 200" in refusal({"name": "n", "replacements": [*heards, {"heard": "one more"}]})


def test_the_longest_texts_allowed_are_accepted() -> None:
    fields = parse_fields(
        {"name": "n" * 100, "phrases": ["p" * 100], "replacements": [{"heard": "h" * 100, "written": "w" * 100}]}
    )

    assert len(fields.name) == len(fields.phrases[0]) == len(fields.replacements[0].written) == 100


def test_a_heard_given_twice_ignoring_case_and_punctuation_is_refused() -> None:
    message = refusal({"name": "n", "replacements": [{"heard": "Cooper Netties"}, {"heard": "cooper, netties!"}]})

    assert message.startswith("replacements[1].heard repeats replacements[0].heard")


def test_a_phrase_given_twice_ignoring_case_is_refused() -> None:
    assert refusal({"name": "n", "phrases": ["Earshot", "EARSHOT"]}).startswith("phrases[1] repeats phrases[0]")


def test_the_same_written_form_for_several_heard_is_fine() -> None:
    fields = parse_fields({"name": "n", "replacements": {"cooper netties": "Kubernetes", "cube rnetes": "Kubernetes"}})

    assert len(fields.replacements) == 2


def test_refusals_never_quote_the_callers_text() -> None:
    secret = "s3cr3t-" + "x" * 200
    payloads = [
        {"name": secret},
        {"name": "n", "phrases": [secret]},
        {"name": "n", "replacements": {secret: "W"}},
        {"name": "n", "replacements": [{"heard": "ok", "written": secret}]},
    ]

    for payload in payloads:
        assert "s3cr3t" not in refusal(payload)


def test_a_stored_vocabulary_round_trips_and_gives_its_fields() -> None:
    now = datetime(2025, 10, 6, tzinfo=UTC)
    vocabulary = Vocabulary(
        id="i",
        tenant_id="t",
        name="n",
        phrases=["A"],
        replacements=[Replacement(heard="b", written="B")],
        created_at=now,
        updated_at=now,
    )

    raw = msgspec.json.encode(vocabulary)

    assert msgspec.json.decode(raw, type=Vocabulary) == vocabulary
    assert vocabulary.fields == VocabularyFields(
        name="n", phrases=("A",), replacements=(Replacement(heard="b", written="B"),)
    )


# -- engine.vocabularies.words ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (" Kubernetes,", (" ", "", "Kubernetes", ",")),
        (' "Hello."', (" ", '"', "Hello", '."')),
        ("(aside)", ("", "(", "aside", ")")),
        (" don't", (" ", "", "don't", "")),
        (" -", (" ", "-", "", "")),
        ("", ("", "", "", "")),
    ],
)
def test_a_word_splits_into_space_opening_core_and_closing(text: str, expected: tuple[str, ...]) -> None:
    split = parts(text)

    assert tuple(split) == expected
    assert "".join(split) == text


def test_heard_keys_ignore_case_punctuation_and_spacing() -> None:
    assert heard_keys("  Mr.  SMITH! ") == ("mr", "smith")
    assert heard_keys("Ｋｕｂｅ") == ("kube",)  # full-width letters read as their plain forms  # noqa: RUF001
    assert heard_keys("... ?!") == ()


def test_the_package_imports_without_the_index_or_recordings_which_embed_its_structs() -> None:
    code = "import sys, engine.vocabularies; print(sorted(m for m in sys.modules if m.startswith('engine.')))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)

    assert "engine.index" not in loaded.stdout and "engine.recordings" not in loaded.stdout, loaded.stdout
