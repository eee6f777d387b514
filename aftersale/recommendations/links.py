"""The signed "Was this helpful?" links under each recommended product of an email."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.core import signing

from aftersale.signing import sign

_FEEDBACK_SALT = "aftersale.recommendations.feedback"


@dataclass(frozen=True)
class FeedbackUrls:
    """The two answers' URLs for one pick."""

    helpful: str
    not_helpful: str


@dataclass(frozen=True)
class FeedbackAnswer:
    """What a feedback token says: which pick of which message, and the answer."""

    message_id: int
    product_id: int
    helpful: bool


def feedback_urls(message_id: int, product_id: int) -> FeedbackUrls:
    """The public yes/no URLs for the pick of `product_id` in message `message_id`."""
    base = settings.PUBLIC_URL.rstrip("/")
    return FeedbackUrls(
        helpful=f"{base}/f/{feedback_token(message_id, product_id, helpful=True)}/",
        not_helpful=f"{base}/f/{feedback_token(message_id, product_id, helpful=False)}/",
    )


def feedback_token(message_id: int, product_id: int, *, helpful: bool) -> str:
    """A URL-safe token naming one answer for one pick of one message."""
    return sign(f"{message_id}.{product_id}.{'y' if helpful else 'n'}", salt=_FEEDBACK_SALT)


def answer_from_token(token: str) -> FeedbackAnswer | None:
    """The answer inside `token`, or None when `feedback_token` did not make it with this
    installation's secret key."""
    try:
        message_id, product_id, answer = (
            signing.Signer(salt=_FEEDBACK_SALT).unsign(token).split(".")
        )
        if answer not in ("y", "n"):
            return None
        return FeedbackAnswer(int(message_id), int(product_id), answer == "y")
    except (signing.BadSignature, ValueError):
        return None
