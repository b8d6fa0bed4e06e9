"""engine.outbound.guard: every IPv6 form of an IPv4 address is judged by that address; URLs with
control characters or broken hosts are refused; numeric host forms resolve to what they mean."""

from __future__ import annotations

import base64
import ipaddress

import pytest

from engine.outbound.guard import (
    TargetRefused,
    TargetUnresolved,
    check_url,
    embedded_ipv4,
    is_public,
    judge_url,
    permitted,
    pin,
)

REFUSED = [
    "127.0.0.1", "10.1.2.3", "169.254.169.254", "100.64.0.1", "0.0.0.0", "224.0.0.1", "255.255.255.255",
    "::1", "::", "fe80::1", "fc00::1", "ff02::1",
    "::ffff:127.0.0.1",  # IPv4-mapped
    "::127.0.0.1",  # IPv4-compatible
    "::ffff:0:7f00:1",  # IPv4-translated (SIIT)
    "64:ff9b::a9fe:a9fe",  # NAT64 well-known prefix -> 169.254.169.254
    "64:ff9b::7f00:1",
    "64:ff9b:1::808:808",  # NAT64 local-use prefix: never public, whatever it carries
    "2002:a9fe:a9fe::1",  # 6to4 of 169.254.169.254
    "2002:7f00:1::1",
    "2001:0::1",  # Teredo
    "2001:0:4136:e378:8000:63bf:3fff:fdd2",
    "fe80::1%eth0",
]  # fmt: skip
PUBLIC = ["8.8.8.8", "93.184.215.14", "2606:4700:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808", "2002:808:808::1"]


@pytest.mark.parametrize("address", REFUSED)
def test_private_loopback_and_every_ipv4_embedding_of_them_is_not_public(address: str) -> None:
    assert not is_public(address)
    assert not permitted(address, allow_private=False)
    assert permitted(address, allow_private=True)


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_and_their_ipv6_forms_are_public(address: str) -> None:
    assert is_public(address)


def test_embedded_ipv4_reads_every_form() -> None:
    loopback = ipaddress.IPv4Address("127.0.0.1")
    for form in ("::ffff:127.0.0.1", "::127.0.0.1", "::ffff:0:7f00:1", "64:ff9b::7f00:1", "2002:7f00:1::"):
        assert embedded_ipv4(ipaddress.ip_address(form)) == loopback, form
    assert embedded_ipv4(ipaddress.ip_address("2606:4700::1")) is None
    assert embedded_ipv4(ipaddress.ip_address("127.0.0.1")) is None


def test_an_allowed_network_admits_the_ipv6_forms_of_its_addresses() -> None:
    allowed = (ipaddress.ip_network("10.1.0.0/16"),)
    assert permitted("::ffff:10.1.2.3", allow_private=False, allowed=allowed)
    assert permitted("64:ff9b::a01:203", allow_private=False, allowed=allowed)
    assert not permitted("::ffff:10.2.0.1", allow_private=False, allowed=allowed)


@pytest.mark.parametrize(
    "url",
    [
        "https://h.example/a\r\nX-Injected: 1", "https://h.example/a\nb", "https://h.example/\x00", "https://h.example/\t",
        "https://h .example/", "https://h.example/\x85", "https://h.example/\u2028", "http://[::1/", "http://[::1]:99999/",
        "http://h:port/", "ftp://h.example/", "http:///x", "", "x" * 3000, None, 42,
    ],
)  # fmt: skip
def test_check_url_refuses_control_characters_bad_hosts_and_ports(url: object) -> None:
    with pytest.raises(ValueError):
        check_url(url)


def test_check_url_accepts_ordinary_urls() -> None:
    for url in ("https://h.example/x?a=1", "http://[::1]:8080/h", "http://user:pw@h.example:81/"):
        assert check_url(url) == url


@pytest.mark.parametrize(
    "url",
    [
        "http://127.1/h", "http://2130706433/h", "http://0x7f000001/h", "http://0177.0.0.1/h", "http://localhost/h",
        "http://[::1]:18081/h", "http://[::ffff:127.0.0.1]:80/h", "http://user@127.0.0.1:9/h", "http://0/h",
    ],
)  # fmt: skip
def test_numeric_and_named_loopback_forms_are_refused_when_judged_and_pinned(url: str) -> None:
    with pytest.raises(TargetRefused):
        judge_url(url, allow_private=False)
    with pytest.raises(TargetRefused):
        pin(url, allow_private=False)
    judge_url(url, allow_private=True)


def test_an_unresolvable_host_passes_judgement_but_not_pinning() -> None:
    judge_url("https://does-not-exist.invalid/h", allow_private=False)
    with pytest.raises(TargetRefused, match="resolve"):
        pin("https://does-not-exist.invalid/h", allow_private=False)


def test_pin_sends_the_request_to_the_judged_address_with_the_original_host() -> None:
    target = pin("http://[::ffff:127.0.0.1]:8080/p?q=1", allow_private=True)
    assert target.url == "http://[::ffff:127.0.0.1]:8080/p?q=1"
    assert target.host_header == "[::ffff:127.0.0.1]:8080"
    with pytest.raises(TargetRefused, match="control"):
        pin("http://127.0.0.1/\r\nx", allow_private=True)


def test_credentials_in_a_url_become_basic_auth_and_leave_the_pinned_url() -> None:
    pinned = pin("https://AC123:s%2Fcret@1.1.1.1:8443/rec.wav?x=1", allow_private=False)
    assert pinned.url == "https://1.1.1.1:8443/rec.wav?x=1"
    assert pinned.authorization == "Basic " + base64.b64encode(b"AC123:s/cret").decode()
    assert pin("https://1.1.1.1/rec.wav", allow_private=False).authorization is None


def test_a_host_that_does_not_resolve_is_unresolved_which_is_a_refusal_that_may_pass() -> None:
    with pytest.raises(TargetUnresolved):
        pin("https://hooks.not-live-yet.invalid/h", allow_private=False)
    assert issubclass(TargetUnresolved, TargetRefused)
