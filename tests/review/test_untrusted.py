"""`printable`: the one sanitizer every untrusted string passes before a person sees it."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mm_assistants.review.untrusted import printable
from tests.review.hostile import HOSTILE, raw_in

BIDI = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"
ZERO_WIDTH = "\u200b\u200c\u200d\u2060\ufeff"


def test_escape_sequences_are_shown_not_obeyed() -> None:
    shown = printable("a\x1b[2K\x1b[1Ab")
    assert shown == "a\\x1b[2K\\x1b[1Ab"


def test_an_osc_hyperlink_shows_its_target() -> None:
    shown = printable("\x1b]8;;https://evil.example/\x07click\x1b]8;;\x07")
    assert "\x1b" not in shown
    assert "\x07" not in shown
    assert "https://evil.example/" in shown


@pytest.mark.parametrize("char", [*BIDI, *ZERO_WIDTH, "\x00", "\x7f", "\x85", "\x9b", "\u2028"])
def test_each_steering_character_is_made_visible(char: str) -> None:
    shown = printable(f"a{char}b")
    assert char not in shown
    assert shown.startswith("a\\")
    assert shown.endswith("b")


def test_a_tab_becomes_spaces_and_newlines_only_stay_in_a_body() -> None:
    assert printable("a\tb") == "a    b"
    assert printable("a\nb\r\nc") == "a\\nb\\r\\nc"
    assert printable("a\nb\r\nc", multiline=True) == "a\nb\\r\nc"


def test_ordinary_text_is_left_alone() -> None:
    text = "Grüße, 東京 — café ✓ (50%) \\ backslash"
    assert printable(text) == text


def test_a_lone_surrogate_cannot_break_the_terminals_encoding() -> None:
    printable("a\ud800b").encode("utf-8")


@given(st.text())
def test_nothing_raw_survives(text: str) -> None:
    shown = printable(text + HOSTILE, multiline=True)
    assert raw_in(shown) == []
    hidden = {"Cc", "Cf", "Cs", "Cn", "Zl", "Zp"}
    assert all(c == "\n" or unicodedata.category(c) not in hidden for c in shown)
    shown.encode("utf-8")
