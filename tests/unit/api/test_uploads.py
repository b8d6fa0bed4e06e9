"""api.uploads: multipart bodies streamed into MemoryStorage, in every chunking."""

from __future__ import annotations

import asyncio
import itertools
import random
from collections.abc import AsyncIterator, Callable, Iterable

import pytest

from api.uploads import MAX_FIELD_BYTES, receive_multipart
from engine.errors import EmptyFile, InvalidParameter, PayloadTooLarge, UnsupportedMediaType
from engine.storage.memory import MemoryStorage
from engine.storage.streaming import ReceivedUpload, safe_filename

BOUNDARY = "earshot-test-boundary-7d1f"
CONTENT_TYPE = f"multipart/form-data; boundary={BOUNDARY}"
NO_LIMIT = 10**12


# --- building bodies ------------------------------------------------------------------------------


def field_part(name: str, value: str | bytes) -> bytes:
    data = value.encode() if isinstance(value, str) else value
    return f'Content-Disposition: form-data; name="{name}"\r\n\r\n'.encode() + data


def file_part(
    data: bytes,
    *,
    filename: str | None = "talk.wav",
    content_type: str | None = "audio/wav",
    name: str = "file",
) -> bytes:
    disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename is not None else "")
    head = f"Content-Disposition: {disposition}\r\n"
    if content_type is not None:
        head += f"Content-Type: {content_type}\r\n"
    return (head + "\r\n").encode() + data


def multipart(*parts: bytes, close: bool = True) -> bytes:
    body = b"".join(b"--" + BOUNDARY.encode() + b"\r\n" + part + b"\r\n" for part in parts)
    return body + (b"--" + BOUNDARY.encode() + b"--\r\n" if close else b"")


def awkward_audio(size: int, seed: int = 7) -> bytes:
    """Random bytes salted with CRLFs, dashes and near-misses of the boundary, but never the boundary."""
    rng = random.Random(seed)
    traps = [
        b"\r\n",
        b"--",
        b"\r\n--",
        b"\r\n\r\n",
        b"--" + BOUNDARY[:-1].encode(),
        b"\r\n--" + BOUNDARY[:5].encode(),
    ]
    out = bytearray()
    while len(out) < size:
        out += rng.randbytes(rng.randint(0, 300))
        out += rng.choice(traps)
    data = bytes(out[:size])
    assert b"\r\n--" + BOUNDARY.encode() not in data
    return data


# --- feeding bodies -------------------------------------------------------------------------------


async def chunked(body: bytes, sizes: Iterable[int]) -> AsyncIterator[bytes]:
    pos = 0
    for size in sizes:
        if pos >= len(body):
            return
        yield body[pos : pos + size]
        pos += size
    if pos < len(body):
        yield body[pos:]


def tiny_sizes(seed: int = 3) -> Iterable[int]:
    rng = random.Random(seed)
    while True:
        yield rng.randint(1, 7)


def large_sizes() -> Iterable[int]:
    while True:
        yield 256 * 1024


async def disconnecting(body: bytes, after: int) -> AsyncIterator[bytes]:
    """A client that sends `after` bytes and then goes away."""
    for pos in range(0, after, 4096):
        yield body[pos : min(pos + 4096, after)]
    raise ConnectionResetError("client went away")


class KeyFor:
    """The `key_for` callback: remembers which extensions it was asked for."""

    def __init__(self) -> None:
        self.extensions: list[str | None] = []

    def __call__(self, ext: str | None) -> str:
        self.extensions.append(ext)
        return f"tenant/recording.{ext or 'bin'}"


def accept_any(name: str, value: str) -> None:
    return None


def receive(
    storage: MemoryStorage,
    body: bytes | AsyncIterator[bytes],
    *,
    content_type: str | None = CONTENT_TYPE,
    limit: int = NO_LIMIT,
    check_field: Callable[[str, str], None] = accept_any,
    key_for: KeyFor | None = None,
) -> ReceivedUpload:
    source = chunked(body, itertools.repeat(1024)) if isinstance(body, bytes) else body
    return asyncio.run(
        receive_multipart(
            source,
            content_type,
            storage=storage,
            key_for=key_for or KeyFor(),
            limit=limit,
            check_field=check_field,
        )
    )


# --- the file arrives intact ----------------------------------------------------------------------


# Tiny chunks cost one queue item each, so they get a smaller file to keep the suite quick.
TINY = pytest.param(tiny_sizes, 64 * 1024, id="1-7-byte-chunks")
LARGE = pytest.param(large_sizes, 300 * 1024, id="256KiB-chunks")


@pytest.mark.parametrize(("sizes", "audio_size"), [TINY, LARGE])
def test_the_stored_object_is_byte_for_byte_the_uploaded_file(
    sizes: Callable[[], Iterable[int]], audio_size: int
) -> None:
    audio = awkward_audio(audio_size)
    storage = MemoryStorage()

    upload = receive(storage, chunked(multipart(file_part(audio)), sizes()))

    assert storage.objects == {upload.key: audio}
    assert upload.size == len(audio)


def test_a_body_sent_in_one_piece_is_stored_intact() -> None:
    audio = awkward_audio(64 * 1024, seed=11)
    storage = MemoryStorage()

    upload = receive(storage, chunked(multipart(file_part(audio)), [10**9]))

    assert storage.get_bytes(upload.key) == audio


def test_the_upload_reports_its_filename_content_type_and_size() -> None:
    storage = MemoryStorage()

    upload = receive(storage, multipart(file_part(b"RIFF....WAVE", filename="meeting.wav", content_type="audio/wav")))

    assert (upload.filename, upload.content_type, upload.extension, upload.size) == (
        "meeting.wav",
        "audio/wav",
        "wav",
        12,
    )
    assert upload.key == "tenant/recording.wav"


def test_fields_before_and_after_the_file_are_returned_and_each_is_checked() -> None:
    checked: list[tuple[str, str]] = []
    body = multipart(
        field_part("language", "en"),
        file_part(b"audio"),
        field_part("custom_tags", '{"team": "sales"}'),
    )

    upload = receive(MemoryStorage(), chunked(body, tiny_sizes()), check_field=lambda n, v: checked.append((n, v)))

    assert upload.fields == {"language": "en", "custom_tags": '{"team": "sales"}'}
    assert checked == [("language", "en"), ("custom_tags", '{"team": "sales"}')]


def test_a_file_exactly_at_the_limit_is_accepted() -> None:
    storage = MemoryStorage()

    upload = receive(storage, multipart(file_part(b"x" * 1000)), limit=1000)

    assert storage.get_bytes(upload.key) == b"x" * 1000


# --- where the extension comes from ---------------------------------------------------------------


def test_the_extension_comes_from_the_filename_in_lower_case() -> None:
    key_for = KeyFor()

    receive(MemoryStorage(), multipart(file_part(b"fLaC", filename="x.FLAC", content_type=None)), key_for=key_for)

    assert key_for.extensions == ["flac"]


def test_the_extension_falls_back_to_the_content_type_when_the_filename_has_none() -> None:
    key_for = KeyFor()

    receive(
        MemoryStorage(),
        multipart(file_part(b"OggS", filename="blob", content_type="audio/webm;codecs=opus")),
        key_for=key_for,
    )

    assert key_for.extensions == ["webm"]


def test_the_extension_falls_back_to_the_content_type_when_there_is_no_filename() -> None:
    key_for = KeyFor()

    receive(
        MemoryStorage(),
        multipart(file_part(b"ID3", filename=None, content_type="audio/mpeg")),
        key_for=key_for,
    )

    assert key_for.extensions == ["mp3"]


# --- what is refused, and that nothing is left behind ---------------------------------------------


def test_an_empty_file_part_is_rejected_and_nothing_is_stored() -> None:
    storage = MemoryStorage()

    with pytest.raises(EmptyFile):
        receive(storage, multipart(field_part("language", "en"), file_part(b"")))

    assert storage.objects == {}


@pytest.mark.parametrize(("sizes", "audio_size"), [TINY, LARGE])
def test_a_file_over_the_limit_is_rejected_and_nothing_is_stored(
    sizes: Callable[[], Iterable[int]], audio_size: int
) -> None:
    storage = MemoryStorage()
    audio = awkward_audio(audio_size)

    with pytest.raises(PayloadTooLarge):
        receive(storage, chunked(multipart(file_part(audio)), sizes()), limit=len(audio) - 1)

    assert storage.objects == {}


def test_a_body_without_a_file_part_is_rejected() -> None:
    storage = MemoryStorage()

    with pytest.raises(InvalidParameter, match="file"):
        receive(storage, multipart(field_part("language", "en")))

    assert storage.objects == {}


def test_two_file_parts_are_rejected_and_nothing_is_stored() -> None:
    storage = MemoryStorage()
    body = multipart(file_part(b"first" * 100), file_part(b"second" * 100, filename="b.wav"))

    with pytest.raises(InvalidParameter, match="file"):
        receive(storage, body)

    assert storage.objects == {}


@pytest.mark.parametrize("cut", [0, 30, 200], ids=["no-closing-boundary", "cut-in-closing", "cut-in-file"])
def test_a_truncated_body_is_rejected_and_nothing_is_stored(cut: int) -> None:
    storage = MemoryStorage()
    whole = multipart(file_part(awkward_audio(4096)), close=False)
    body = whole[: len(whole) - cut] if cut else whole

    with pytest.raises(InvalidParameter):
        receive(storage, body)

    assert storage.objects == {}


@pytest.mark.parametrize("content_type", [None, "", "application/json", "audio/wav", "text/plain; boundary=x"])
def test_a_body_that_is_not_multipart_form_data_is_an_unsupported_media_type(
    content_type: str | None,
) -> None:
    storage = MemoryStorage()

    with pytest.raises(UnsupportedMediaType):
        receive(storage, multipart(file_part(b"audio")), content_type=content_type)

    assert storage.objects == {}


def test_a_multipart_content_type_without_a_boundary_is_rejected() -> None:
    with pytest.raises(InvalidParameter, match="boundary"):
        receive(MemoryStorage(), multipart(file_part(b"audio")), content_type="multipart/form-data")


def reject(field: str) -> Callable[[str, str], None]:
    def check(name: str, value: str) -> None:
        if name == field:
            raise InvalidParameter(f"{name} is not acceptable")

    return check


def test_a_bad_field_before_the_file_stops_the_upload_before_anything_is_stored() -> None:
    storage = MemoryStorage()
    key_for = KeyFor()
    body = multipart(field_part("language", "klingon"), file_part(awkward_audio(200 * 1024)))

    with pytest.raises(InvalidParameter, match="language"):
        receive(storage, body, check_field=reject("language"), key_for=key_for)

    assert storage.objects == {}
    assert key_for.extensions == []


@pytest.mark.parametrize(("sizes", "audio_size"), [TINY, LARGE])
def test_a_bad_field_after_the_file_leaves_nothing_stored(sizes: Callable[[], Iterable[int]], audio_size: int) -> None:
    storage = MemoryStorage()
    body = multipart(file_part(awkward_audio(audio_size)), field_part("language", "klingon"))

    with pytest.raises(InvalidParameter, match="language"):
        receive(storage, chunked(body, sizes()), check_field=reject("language"))

    assert storage.objects == {}


def test_a_field_that_is_not_utf8_is_rejected_naming_the_field() -> None:
    storage = MemoryStorage()
    body = multipart(file_part(b"audio"), field_part("initial_prompt", b"caf\xe9 \xff\xfe"))

    with pytest.raises(InvalidParameter, match="initial_prompt"):
        receive(storage, body)

    assert storage.objects == {}


def test_a_field_longer_than_the_field_limit_is_rejected_naming_the_field() -> None:
    storage = MemoryStorage()
    body = multipart(field_part("initial_prompt", "a" * (MAX_FIELD_BYTES + 1)), file_part(b"audio"))

    with pytest.raises(InvalidParameter, match="initial_prompt"):
        receive(storage, body)

    assert storage.objects == {}


def test_a_client_that_disconnects_mid_file_gets_its_error_propagated_and_nothing_is_stored() -> None:
    storage = MemoryStorage()
    body = multipart(file_part(awkward_audio(300 * 1024)))

    with pytest.raises(ConnectionResetError):
        receive(storage, disconnecting(body, after=len(body) // 2))

    assert storage.objects == {}


def test_a_failed_upload_leaves_earlier_objects_untouched() -> None:
    storage = MemoryStorage()
    storage.put_bytes("tenant/earlier.wav", b"kept", "audio/wav")

    with pytest.raises(PayloadTooLarge):
        receive(storage, multipart(file_part(b"x" * 5000)), limit=100)

    assert storage.objects == {"tenant/earlier.wav": b"kept"}


# --- safe_filename --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "label"),
    [
        ("meeting.wav", "meeting.wav"),
        ("../../etc/passwd", "passwd"),
        ("/abs/path/to/talk.mp3", "talk.mp3"),
        ("a\\b\\c.wav", "c.wav"),
        ("C:\\Users\\me\\Desktop\\call.m4a", "call.m4a"),
        ("evil\x00.wav", "evil.wav"),
        ("line\r\nbreak.wav", "linebreak.wav"),
        ("\x1b[31mred.wav", "[31mred.wav"),
        ("tab\tand\x7fdel.ogg", "tabanddel.ogg"),
        ("  spaced.wav  ", "spaced.wav"),
        ("réunion d'équipe.flac", "réunion d'équipe.flac"),
    ],
)
def test_safe_filename_keeps_only_a_harmless_label(raw: str, label: str) -> None:
    assert safe_filename(raw) == label


def test_safe_filename_strips_c1_control_characters_too() -> None:
    # U+0080..U+009F are control characters as much as U+0000..U+001F (U+009B is a terminal CSI).
    assert safe_filename("a\x85b\x9b31mc.wav") == "ab31mc.wav"


@pytest.mark.parametrize("raw", [None, "", ".", "..", "dir/..", "../", "   ", "\x00", "a/b/"])
def test_safe_filename_has_no_label_for_names_that_are_only_paths_or_nothing(raw: str | None) -> None:
    assert safe_filename(raw) is None


def test_safe_filename_is_bounded_in_length() -> None:
    label = safe_filename("x" * 1000 + ".wav")

    assert label is not None
    assert len(label) <= 255
