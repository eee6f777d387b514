"""The countdown image of an expiring offer: drawn when the email is opened, so it shows
the time left at that moment ("2d 14h 05m left", or "Expired").

Its URL carries the expiry and the brand colour, signed, so drawing it needs no database
and nobody can make this installation draw anything else."""

from __future__ import annotations

import datetime as dt
import functools
import io
from typing import TYPE_CHECKING

from django.conf import settings
from django.core import signing

from aftersale.lib.signing import sign

if TYPE_CHECKING:
    from PIL import ImageFont

_SALT = "aftersale.messaging.rendering.countdown"
# Drawn at twice the size the email shows it, so it stays sharp on high-density screens.
WIDTH, HEIGHT = 600, 120
DISPLAY_WIDTH = WIDTH // 2
_FONT_SIZE = 56
_RADIUS = 24


def countdown_token(*, expires_at: dt.datetime, color: str) -> str:
    """A URL-safe signed token naming an expiry instant and a "#rrggbb" colour."""
    return sign(f"{int(expires_at.timestamp())}.{color.lstrip('#')}", salt=_SALT)


def countdown_url(*, expires_at: dt.datetime, color: str) -> str:
    """The public URL of the countdown image to `expires_at` in `color`."""
    token = countdown_token(expires_at=expires_at, color=color)
    return f"{settings.PUBLIC_URL.rstrip('/')}/i/countdown/{token}.png"


def read_countdown_token(token: str) -> tuple[dt.datetime, str] | None:
    """(expiry, "#rrggbb") inside `token`, or None when this installation did not sign
    it."""
    try:
        epoch, _, colour = signing.Signer(salt=_SALT).unsign(token).partition(".")
        return dt.datetime.fromtimestamp(int(epoch), tz=dt.UTC), f"#{colour}"
    except (signing.BadSignature, ValueError, OverflowError):
        return None


def countdown_text(*, expires_at: dt.datetime, now: dt.datetime) -> str:
    """The time left, to the minute: "2d 14h 05m left", "3h 07m left", or "Expired"."""
    minutes = int((expires_at - now).total_seconds() // 60)
    if minutes <= 0:
        return "Expired"
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    clock = f"{hours}h {minutes:02d}m"
    return f"{days}d {clock} left" if days else f"{clock} left"


def countdown_png(*, text: str, color: str) -> bytes:
    """A PNG of `text` centred on a rounded box of `color`, in white or black, whichever
    reads better on it."""
    # Pillow is imported where an image is drawn: every email links one, few are drawn,
    # and loading it cost each worker start ~45 ms.
    from PIL import Image, ImageDraw

    image = Image.new("RGBA", (WIDTH, HEIGHT), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    rgb = _rgb(color)
    draw.rounded_rectangle((0, 0, WIDTH - 1, HEIGHT - 1), radius=_RADIUS, fill=rgb)
    ink = (0, 0, 0) if _luminance(rgb) > 0.6 else (255, 255, 255)
    draw.text((WIDTH / 2, HEIGHT / 2), text, font=_font(), fill=ink, anchor="mm")
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


@functools.cache
def _font() -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    # Pillow's bundled font: no system fonts needed on the server.
    from PIL import ImageFont

    return ImageFont.load_default(size=_FONT_SIZE)


def _rgb(color: str) -> tuple[int, int, int]:
    value = color.lstrip("#")
    return int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16)


def _luminance(rgb: tuple[int, int, int]) -> float:
    red, green, blue = (channel / 255 for channel in rgb)
    return 0.2126 * red + 0.7152 * green + 0.0722 * blue
