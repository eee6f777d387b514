"""The countdown image of an expiring offer, drawn for the moment the email is opened."""

from __future__ import annotations

import datetime as dt
import io
from urllib.parse import urlsplit

import pytest
from django.test import Client
from PIL import Image

from aftersale.lib.clock import VirtualClock, use_clock
from aftersale.messaging.rendering.countdown import (
    DISPLAY_WIDTH,
    WIDTH,
    countdown_text,
    countdown_url,
    read_countdown_token,
)


def _path(expires_at: dt.datetime, color: str = "#1f6feb") -> str:
    return urlsplit(countdown_url(expires_at=expires_at, color=color)).path


@pytest.mark.parametrize(
    ("left", "text"),
    [
        (dt.timedelta(days=2, hours=14, minutes=5, seconds=59), "2d 14h 05m left"),
        (dt.timedelta(hours=3, minutes=7), "3h 07m left"),
        (dt.timedelta(seconds=59), "Expired"),
        (dt.timedelta(minutes=-5), "Expired"),
    ],
)
def test_countdown_text_counts_down_to_the_minute(left: dt.timedelta, text: str) -> None:
    now = dt.datetime(2024, 3, 4, 9, 0, tzinfo=dt.UTC)
    assert countdown_text(expires_at=now + left, now=now) == text


def test_the_token_carries_expiry_and_colour_and_refuses_tampering() -> None:
    expires = dt.datetime(2024, 3, 18, 9, 0, tzinfo=dt.UTC)
    token = _path(expires, "#AA3300").removeprefix("/i/countdown/").removesuffix(".png")
    assert read_countdown_token(token) == (expires, "#AA3300")
    assert read_countdown_token(token.replace("AA3300", "000000")) is None
    assert read_countdown_token("1710752400.aa3300") is None


def test_the_image_is_drawn_for_the_clock_at_opening_and_cacheable_for_a_minute(
    db: None, clock: VirtualClock
) -> None:
    path = _path(clock.now() + dt.timedelta(days=2, hours=14, minutes=5))
    with use_clock(clock):
        first = Client().get(path)
        clock.advance(dt.timedelta(days=3))
        expired = Client().get(path)
    assert first.status_code == 200 and first["Content-Type"] == "image/png"
    assert first["Cache-Control"] == "public, max-age=60"
    image = Image.open(io.BytesIO(first.content))
    assert image.size[0] == WIDTH == 2 * DISPLAY_WIDTH
    assert image.convert("RGB").getpixel((4, image.size[1] // 2)) == (0x1F, 0x6F, 0xEB)  # brand
    assert expired.content != first.content  # now it says "Expired"


def test_an_unsigned_countdown_is_not_found(db: None) -> None:
    assert Client().get("/i/countdown/1710752400.1f6feb.png").status_code == 404
