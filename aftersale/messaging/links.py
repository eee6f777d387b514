"""Links in emails: UTM tagging and the signed unsubscribe token."""

from __future__ import annotations

import html
import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from django.conf import settings
from django.core import signing

_UNSUBSCRIBE_SALT = "aftersale.messaging.unsubscribe"
_HREF = re.compile(r"""(\bhref\s*=\s*)(["'])(.*?)\2""", re.IGNORECASE | re.DOTALL)


def add_utm(url: str, *, campaign: str, content: str) -> str:
    """`url` with utm_source=aftersale, utm_medium=email, utm_campaign and utm_content
    added; existing query parameters (including any UTM the merchant set) are kept."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    present = {key for key, _ in query}
    ours = {
        "utm_source": "aftersale",
        "utm_medium": "email",
        "utm_campaign": campaign,
        "utm_content": content,
    }
    query += [(key, value) for key, value in ours.items() if key not in present]
    return urlunsplit(parts._replace(query=urlencode(query)))


def tag_links(page: str, *, campaign: str, content: str) -> str:
    """`page` (HTML) with UTM parameters on every http(s) link, except links back to
    this installation (unsubscribe, tracking), which are not shop links."""
    own_prefix = settings.PUBLIC_URL.rstrip("/") + "/"

    def tag(match: re.Match[str]) -> str:
        url = html.unescape(match.group(3)).strip()
        if not url.startswith(("http://", "https://")) or url.startswith(own_prefix):
            return match.group(0)
        tagged = html.escape(add_utm(url, campaign=campaign, content=content), quote=True)
        return f"{match.group(1)}{match.group(2)}{tagged}{match.group(2)}"

    return _HREF.sub(tag, page)


def unsubscribe_token(message_id: int) -> str:
    """A URL-safe token that proves an unsubscribe request comes from message
    `message_id`; `message_id_from_token` reverses it."""
    return signing.Signer(salt=_UNSUBSCRIBE_SALT).sign(str(message_id))


def message_id_from_token(token: str) -> int | None:
    """The message id inside `token`, or None when the token was not made by
    `unsubscribe_token` with this installation's secret key."""
    try:
        return int(signing.Signer(salt=_UNSUBSCRIBE_SALT).unsign(token))
    except (signing.BadSignature, ValueError):
        return None


def unsubscribe_url(message_id: int) -> str:
    """The public one-click unsubscribe URL for message `message_id`."""
    return f"{settings.PUBLIC_URL.rstrip('/')}/u/{unsubscribe_token(message_id)}/"
