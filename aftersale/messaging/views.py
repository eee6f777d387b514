"""Public endpoints of email content: the countdown image of an expiring offer."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.http import require_http_methods

from aftersale.lib import clock
from aftersale.messaging.rendering.countdown import (
    countdown_png,
    countdown_text,
    read_countdown_token,
)

# The image shows minutes: a proxy or client may keep it that long, no longer.
COUNTDOWN_MAX_AGE = 60


@require_http_methods(["GET", "HEAD"])
def countdown(request: HttpRequest, token: str) -> HttpResponse:
    """The token's countdown drawn for the current moment ("2d 14h 05m left" or
    "Expired") as a PNG, cacheable for a minute; an unsigned token is a 404."""
    signed = read_countdown_token(token)
    if signed is None:
        raise Http404("no such countdown")
    expires_at, color = signed
    text = countdown_text(expires_at=expires_at, now=clock.now())
    response = HttpResponse(countdown_png(text=text, color=color), content_type="image/png")
    response["Cache-Control"] = f"public, max-age={COUNTDOWN_MAX_AGE}"
    return response
