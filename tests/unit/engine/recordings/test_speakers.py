"""Speaker labels from diarization turns, speaker/channel turns, stats, and labelled subtitles."""

from __future__ import annotations

from datetime import UTC, datetime

from engine.diarization import SpeakerTurn
from engine.recordings.speakers import (
    label_segments_by_words,
    label_speakers,
    number_by_appearance,
    speaker_stats,
    utterances,
)
from engine.recordings.subtitles import render
from engine.recordings.transcripts import Segment, Transcription, Word, join_words


def _word(text: str, start: float, end: float, **label: object) -> Word:
    return Word(word=text, start=start, end=end, confidence=0.9, **label)  # type: ignore[arg-type]


TURNS = [SpeakerTurn(0.0, 2.0, 1), SpeakerTurn(2.5, 4.0, 2), SpeakerTurn(3.8, 6.0, 1)]


def test_each_word_takes_the_speaker_it_overlaps_most_or_the_nearest_turn() -> None:
    words = [
        _word("hello", 0.1, 0.5),  # inside speaker 1
        _word("there", 1.8, 2.6),  # 0.2 s of speaker 1, 0.1 s of speaker 2
        _word("gap", 2.1, 2.3),  # in the gap: nearest is speaker 1's end (0.1 s away)
        _word("yes", 3.0, 3.5),  # speaker 2
        _word("overlap", 3.85, 4.4),  # 0.15 s of 2, 0.55 s of 1
        _word("late", 7.0, 7.2),  # after everything: the last turn
    ]
    labelled = label_speakers(words, TURNS)
    assert [w.speaker for w in labelled] == [
        "Speaker 1", "Speaker 1", "Speaker 1", "Speaker 2", "Speaker 1", "Speaker 1",
    ]  # fmt: skip
    assert label_speakers(words, []) == [msg for msg in words]  # no turns: no labels


def test_utterances_are_runs_of_one_speaker_and_stats_add_them_up() -> None:
    words = [
        _word("a", 0.0, 0.4, speaker="Speaker 1"),
        _word("b", 0.5, 0.9, speaker="Speaker 1"),
        _word("c", 1.0, 1.5, speaker="Speaker 2"),
        _word("d", 2.0, 2.2, speaker="Speaker 1"),
    ]
    turns = utterances(words, [])
    assert [(u.speaker, u.start, u.end, u.text, u.words) for u in turns] == [
        ("Speaker 1", 0.0, 0.9, "a b", 2),
        ("Speaker 2", 1.0, 1.5, "c", 1),
        ("Speaker 1", 2.0, 2.2, "d", 1),
    ]
    stats = {s.speaker: (s.talk_seconds, s.words, s.utterances) for s in speaker_stats(turns)}
    assert stats == {"Speaker 1": (1.1, 3, 2), "Speaker 2": (0.5, 1, 1)}


def _doc(words: list[Word], segments: list[Segment]) -> Transcription:
    now = datetime.now(UTC)
    return Transcription(
        id="t", recording_id="r", tenant_id="x", text=" ".join(s.text for s in segments), confidence=0.9,
        language="english", language_code="en", language_probability=1.0, model="tiny.en", device="cpu",
        compute_type="int8", processing_duration_ms=1, duration_seconds=3.0, words=words, segments=segments,
        utterances=utterances(words, segments), created_at=now, updated_at=now,
    )  # fmt: skip


def test_subtitles_split_a_segment_where_its_speaker_changes_and_name_each_cue() -> None:
    words = [
        _word("Hi", 0.0, 0.4, speaker="Speaker 1"),
        _word("there.", 0.5, 0.9, speaker="Speaker 1"),
        _word("Hello.", 1.2, 1.8, speaker="Speaker 2"),
    ]
    segment = Segment(id=0, start=0.0, end=1.8, text="Hi there. Hello.", avg_logprob=-0.1, no_speech_prob=0.0)
    doc = _doc(words, [segment])
    assert render(doc, "vtt") == (
        "WEBVTT\n\n00:00:00.000 --> 00:00:00.900\n<v Speaker 1>Hi there.\n\n"
        "00:00:01.200 --> 00:00:01.800\n<v Speaker 2>Hello.\n"
    )
    assert render(doc, "srt").splitlines()[2] == "Speaker 1: Hi there."
    assert render(doc, "text") == "Speaker 1: Hi there.\nSpeaker 2: Hello.\n"


def test_channel_subtitles_keep_each_channels_words_to_its_own_segment() -> None:
    words = [
        _word("left", 0.0, 0.5, channel=0),
        _word("right", 0.2, 0.6, channel=1),
        _word("side", 0.6, 1.0, channel=0),
    ]
    segments = [
        Segment(id=0, start=0.0, end=1.0, text="left side", avg_logprob=-0.1, no_speech_prob=0.0, channel=0),
        Segment(id=1, start=0.2, end=0.6, text="right", avg_logprob=-0.1, no_speech_prob=0.0, channel=1),
    ]
    vtt = render(_doc(words, segments), "vtt")
    assert "<v Channel 0>left side" in vtt and "<v Channel 1>right" in vtt


def test_a_word_in_a_gap_takes_the_turn_that_ended_nearest_even_behind_a_longer_one() -> None:
    turns = [
        SpeakerTurn(0.0, 8.0, 1),
        SpeakerTurn(2.6, 2.8, 3),
        SpeakerTurn(3.0, 10.0, 2),  # ends 0.5 s before the word
        SpeakerTurn(4.0, 4.5, 1),
        SpeakerTurn(6.0, 6.5, 3),
        SpeakerTurn(14.0, 15.0, 3),
    ]
    (late,) = label_speakers([_word("late", 10.4, 10.6)], turns)
    assert late.speaker == "Speaker 2"
    (early,) = label_speakers([_word("soon", 13.5, 13.7)], turns)
    assert early.speaker == "Speaker 3"  # the turn after is nearer than the one before


def test_speakers_are_numbered_by_their_first_word() -> None:
    words = [_word("a", 0.0, 0.4, speaker="Speaker 3"), _word("b", 1.0, 1.4, speaker="Speaker 1")]
    segment = Segment(id=0, start=0.0, end=1.4, text="a b", avg_logprob=-0.1, no_speech_prob=0.0, speaker="Speaker 3")
    numbered, segments, raw = number_by_appearance(words, [segment], None)
    assert [w.speaker for w in numbered] == ["Speaker 1", "Speaker 2"]
    assert [s.speaker for s in segments] == ["Speaker 1"] and raw is None


def test_vtt_cue_text_is_escaped() -> None:
    words = [_word("AT&T", 0.0, 0.4, speaker="Speaker 1"), _word("<b>-->", 0.5, 0.9, speaker="Speaker 1")]
    segment = Segment(id=0, start=0.0, end=0.9, text="AT&T <b>-->", avg_logprob=-0.1, no_speech_prob=0.0)
    vtt = render(_doc(words, [segment]), "vtt")
    assert vtt.splitlines()[3] == "<v Speaker 1>AT&amp;T &lt;b&gt;--&gt;"


def test_a_channels_turn_goes_on_through_crosstalk_and_ends_where_the_other_party_takes_a_turn() -> None:
    a, b = {"channel": 0, "speaker": "Channel 0"}, {"channel": 1, "speaker": "Channel 1"}
    words = [
        _word("so", 0.0, 0.3, **a), _word("the", 0.35, 0.5, **a),
        _word("uh-huh", 0.4, 0.6, **b),  # crosstalk, over A's words
        _word("plan", 0.55, 0.9, **a), _word("is", 0.95, 1.1, **a),
        _word("right", 1.3, 1.5, **b),  # wholly in A's pause: B's turn
        _word("ready", 1.7, 2.0, **a),
        _word("later", 4.0, 4.3, **a),  # after a 2 s pause: a new turn
    ]  # fmt: skip
    turns = [(u.channel, u.text) for u in utterances(words, [])]
    # B's two words are two turns: A went on talking between them.
    assert turns == [(0, "so the plan is"), (1, "uh-huh"), (1, "right"), (0, "ready"), (0, "later")]


def test_a_speakers_talk_time_leaves_out_long_pauses_and_the_time_someone_else_talked_unheard() -> None:
    words = [
        _word("Okay", 0.0, 0.5, speaker="Speaker 1"),
        _word("so", 0.6, 0.8, speaker="Speaker 1"),  # a short pause: the same turn
        # ... another speaker talks from 1 s to 9 s, but the model wrote none of it down ...
        _word("right.", 9.2, 10.0, speaker="Speaker 1"),
        _word("Later.", 300.0, 300.5, speaker="Speaker 1"),
    ]
    turns = utterances(words, [])
    assert [(u.start, u.end, u.text) for u in turns] == [
        (0.0, 0.8, "Okay so"),
        (9.2, 10.0, "right."),
        (300.0, 300.5, "Later."),
    ]
    (stats,) = speaker_stats(turns)
    assert (stats.talk_seconds, stats.words, stats.utterances) == (2.1, 4, 3)


def test_a_segment_names_the_speaker_of_most_of_its_words_not_of_most_of_its_span() -> None:
    # Speaker 2's turn covers most of the segment's span but only a breath; every word is Speaker 1's.
    turns = [SpeakerTurn(0.0, 1.0, 1), SpeakerTurn(1.0, 5.0, 2)]
    words = label_speakers([_word("Yes", 0.1, 0.5), _word("indeed.", 0.6, 1.0)], turns)
    segment = Segment(id=0, start=0.0, end=5.0, text="Yes indeed.", avg_logprob=-0.1, no_speech_prob=0.0)
    by_span = label_speakers([segment], turns)
    assert by_span[0].speaker == "Speaker 2"
    (labelled,) = label_segments_by_words(by_span, words)
    assert labelled.speaker == "Speaker 1"
    assert {s.speaker for s in speaker_stats(utterances(words, [labelled]))} == {"Speaker 1"}
    wordless = Segment(id=1, start=6.0, end=7.0, text="", avg_logprob=-1.0, no_speech_prob=0.9, speaker="Speaker 2")
    assert label_segments_by_words([wordless], words) == [wordless]


def test_text_in_scripts_without_spaces_is_joined_without_them() -> None:
    assert join_words(["你", "好", "世界。"]) == "你好世界。"
    assert join_words(["こんにちは", "世界"]) == "こんにちは世界"
    assert join_words(["สวัสดี", "ครับ"]) == "สวัสดีครับ"
    assert join_words(["Hello", "world."]) == "Hello world."
    assert join_words(["안녕하세요", "여러분"]) == "안녕하세요 여러분"  # Korean is written with spaces
    assert join_words(["He", "said", "你好", "twice."]) == "He said 你好 twice."
    words = [_word("你", 0.0, 0.2, speaker="Speaker 1"), _word("好。", 0.2, 0.4, speaker="Speaker 1"),
             _word("谢谢", 0.6, 1.0, speaker="Speaker 2")]  # fmt: skip
    assert [u.text for u in utterances(words, [])] == ["你好。", "谢谢"]
    segment = Segment(id=0, start=0.0, end=1.0, text="你好。谢谢", avg_logprob=-0.1, no_speech_prob=0.0)
    assert render(_doc(words, [segment]), "srt").splitlines()[2] == "Speaker 1: 你好。"


def test_a_zero_length_word_at_a_segments_end_stays_in_its_cue_and_only_there() -> None:
    words = [
        _word("Yes", 0.0, 0.4, speaker="Speaker 1"),
        _word("no", 0.6, 1.0, speaker="Speaker 2"),
        _word("way.", 1.0, 1.0, speaker="Speaker 2"),  # the model gives some words no time at all
        _word("Fine.", 1.0, 1.5, speaker="Speaker 1"),
    ]
    first = Segment(id=0, start=0.0, end=1.0, text="Yes no way.", avg_logprob=-0.1, no_speech_prob=0.0)
    second = Segment(id=1, start=1.0, end=1.5, text="Fine.", avg_logprob=-0.1, no_speech_prob=0.0)
    srt = render(_doc(words, [first, second]), "srt")
    assert "Speaker 2: no way." in srt.splitlines()
    assert srt.count("way.") == 1 and "Speaker 1: Fine." in srt.splitlines()


def test_a_word_with_no_duration_takes_the_speaker_of_the_word_before_it() -> None:
    # "needed" has no time of its own, at the very moment the turns change speaker.
    turns = [SpeakerTurn(10.0, 10.42, 1), SpeakerTurn(10.42, 10.6, 2), SpeakerTurn(10.6, 11.0, 1)]
    words = [_word("I", 10.08, 10.42), _word("needed", 10.42, 10.42), _word("to", 10.6, 10.9)]
    assert [w.speaker for w in label_speakers(words, turns)] == ["Speaker 1"] * 3
    first = [_word("So,", 27.86, 27.86), _word("what", 27.94, 28.28)]
    assert [w.speaker for w in label_speakers(first, [SpeakerTurn(27.0, 27.9, 2), SpeakerTurn(27.9, 29.0, 1)])] == [
        "Speaker 1", "Speaker 1",
    ]  # fmt: skip
