"""The signed "Was this helpful?" links under each recommended product of an email."""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.conf import settings

from aftersale.lib.signing import is_signature, signature

# A token is "<message id>.<product id>.<y|n>:<signature of the message id>": one
# signature per message, and the product and answer, unsigned, only count for a product
# that message recommended (the view and record_feedback check). Emails sent before
# signed the whole "<message id>.<product id>.<y|n>" with the old salt.
_FEEDBACK_SALT = "aftersale.recommendations.feedback.message"
_PER_ANSWER_SALT = "aftersale.recommendations.feedback"
_TOKEN = re.compile(r"(([0-9]+)\.([0-9]+)\.([yn])):([A-Za-z0-9_-]+)", re.ASCII)


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
    answer = "y" if helpful else "n"
    return f"{message_id}.{product_id}.{answer}:{signature(str(message_id), salt=_FEEDBACK_SALT)}"


def answer_from_token(token: str) -> FeedbackAnswer | None:
    """The answer inside `token`, or None when `feedback_token` (or, for emails sent
    before, the per-answer signing) did not make it with this installation's secret
    key. The product is not checked here: the message may not have recommended it."""
    match = _TOKEN.fullmatch(token)
    if match is None:
        return None
    value, message_id, product_id, answer, given = match.groups()
    if is_signature(message_id, given, salt=_FEEDBACK_SALT) or is_signature(
        value, given, salt=_PER_ANSWER_SALT
    ):
        return FeedbackAnswer(int(message_id), int(product_id), answer == "y")
    return None
