"""Links in emails: UTM tagging, the signed click, open and unsubscribe tokens, and the
rewriting of shop links into tracked redirects."""

from __future__ import annotations

import functools
import html
import re
from collections.abc import Callable
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from django.conf import settings
from django.core import signing
from django.utils.crypto import constant_time_compare, salted_hmac

from aftersale.lib.signing import is_signature, sign, signature

_UNSUBSCRIBE_SALT = "aftersale.messaging.unsubscribe"
# Each kind of token has its own salt, so an open token is never accepted as a click.
# A click token is "<message id>.<link index>:<signature of the message id>": one
# signature per message, and the index, unsigned, can only name a link that message
# recorded. Emails sent before signed each "<message id>.<link index>" with the old salt.
_CLICK_SALT = "aftersale.tracking.click.message"
_PER_LINK_CLICK_SALT = "aftersale.tracking.click"
_CLICK_TOKEN = re.compile(r"([0-9]+)\.([0-9]+):([A-Za-z0-9_-]+)", re.ASCII)
_OPEN_SALT = "aftersale.tracking.open"
_REPLY_SALT = "aftersale.messaging.reply"
_UNSUBSCRIBE_ADDRESS_SALT = "aftersale.messaging.unsubscribe-address"
# Mail systems may change the case of an address's local part, so the tokens in
# addresses are lower-case hex only: "<kind>+<message id>-<16 hex digits of HMAC>", the
# kind "reply" (the Reply-To) or "unsubscribe" (List-Unsubscribe's mailto:).
_ADDRESS_LOCAL = re.compile(r"^(reply|unsubscribe)\+(\d+)-([0-9a-f]{16})$")
_ADDRESS_SALTS = {"reply": _REPLY_SALT, "unsubscribe": _UNSUBSCRIBE_ADDRESS_SALT}
# A pattern that starts with a literal is searched for with a fast scan; a leading \b or
# IGNORECASE makes re try every position (about 20x slower on a 25 KB email). So the
# lower-case pattern runs whenever every href is lower case (as mrml writes them).
_HREF = re.compile(r"""(href\s*=\s*)(["'])(.*?)\2""", re.DOTALL)
_HREF_ANY_CASE = re.compile(_HREF.pattern, re.DOTALL | re.IGNORECASE)


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


def _public_base() -> str:
    return settings.PUBLIC_URL.rstrip("/")


def is_shop_link(url: str, *, own_prefix: str) -> bool:
    """Whether `url` leads to the shop: http(s) and not back to this installation
    (unsubscribe, tracking). mailto: and anchors are not shop links."""
    return url.startswith(("http://", "https://")) and not url.startswith(own_prefix)


def shop_destination(url: str, own_prefix: str, campaign: str, content: str, /) -> str | None:
    """`url` (outer whitespace removed) UTM-tagged (see add_utm) when it is a shop link
    (see is_shop_link, `own_prefix` this installation's public URL and "/"), else None."""
    if url.startswith(own_prefix):  # unsubscribe, feedback: every message has its own
        return None
    return _shop_destination(url, own_prefix, campaign, content)


# Every email of a flow step has the same shop links: each is tagged once per process.
@functools.lru_cache(maxsize=4096)
def _shop_destination(url: str, own_prefix: str, campaign: str, content: str, /) -> str | None:
    url = url.strip()
    if not is_shop_link(url, own_prefix=own_prefix):
        return None
    return add_utm(url, campaign=campaign, content=content)


def href_matches(page: str) -> list[re.Match[str]]:
    """The href attributes of `page` (HTML) in document order: group 3 of each match is
    the attribute's raw value; "xhref" and the like are not href attributes."""
    # bytes.lower() touches ASCII only and is several times faster than str.lower().
    any_case = page.encode().lower().count(b"href") != page.count("href")
    pattern = _HREF_ANY_CASE if any_case else _HREF
    return [m for m in pattern.finditer(page) if _starts_attribute(page, m.start())]


def _starts_attribute(page: str, at: int) -> bool:
    before = page[at - 1] if at else " "
    return not (before.isalnum() or before == "_")


def _sub_hrefs(replace: Callable[[re.Match[str]], str], page: str) -> str:
    """`page` with every href attribute's match passed through `replace`."""
    pieces, done = [], 0
    for match in href_matches(page):
        pieces += [page[done : match.start()], replace(match)]
        done = match.end()
    return "".join(pieces) + page[done:]


def tag_links(page: str, *, campaign: str, content: str) -> str:
    """`page` (HTML) with UTM parameters on every http(s) link, except links back to
    this installation (unsubscribe, tracking), which are not shop links."""
    own_prefix = _public_base() + "/"

    def tag(match: re.Match[str]) -> str:
        tagged = shop_destination(html.unescape(match.group(3)), own_prefix, campaign, content)
        if tagged is None:
            return match.group(0)
        written = html.escape(tagged, quote=True)
        return f"{match.group(1)}{match.group(2)}{written}{match.group(2)}"

    return _sub_hrefs(tag, page)


def unsubscribe_token(message_id: int) -> str:
    """A URL-safe token that proves an unsubscribe request comes from message
    `message_id`; `message_id_from_token` reverses it."""
    return sign(str(message_id), salt=_UNSUBSCRIBE_SALT)


def message_id_from_token(token: str) -> int | None:
    """The message id inside `token`, or None when the token was not made by
    `unsubscribe_token` with this installation's secret key."""
    try:
        return int(signing.Signer(salt=_UNSUBSCRIBE_SALT).unsign(token))
    except (signing.BadSignature, ValueError):
        return None


def unsubscribe_url(message_id: int) -> str:
    """The public one-click unsubscribe URL for message `message_id`."""
    return f"{_public_base()}/u/{unsubscribe_token(message_id)}/"


def click_token(message_id: int, index: int, *, signed: str | None = None) -> str:
    """A URL-safe token naming link `index` of message `message_id`; it carries no URL,
    so the redirect can only go where the message's recorded links say. `signed`: the
    message's click signature when the caller has it (see ClickRedirects)."""
    signed = signed or signature(str(message_id), salt=_CLICK_SALT)
    return f"{message_id}.{index}:{signed}"


def click_from_token(token: str) -> tuple[int, int] | None:
    """(message id, link index) inside `token`, or None when `click_token` (or, for
    emails sent before, the per-link signing) did not make it with this installation's
    secret key."""
    match = _CLICK_TOKEN.fullmatch(token)
    if match is None:
        return None
    message_id, index, given = match.groups()
    if is_signature(message_id, given, salt=_CLICK_SALT) or is_signature(
        f"{message_id}.{index}", given, salt=_PER_LINK_CLICK_SALT
    ):
        return int(message_id), int(index)
    return None


def open_token(message_id: int) -> str:
    """A URL-safe token for the open pixel of message `message_id`."""
    return sign(str(message_id), salt=_OPEN_SALT)


def message_id_from_open_token(token: str) -> int | None:
    """The message id inside an `open_token`, or None for anything else."""
    try:
        return int(signing.Signer(salt=_OPEN_SALT).unsign(token))
    except (signing.BadSignature, ValueError):
        return None


def reply_address(message_id: int, *, domain: str) -> str:
    """The per-message Reply-To address of message `message_id` on the store's reply
    `domain`; `message_id_from_reply_address` recognises it."""
    return _signed_address("reply", message_id, domain=domain)


def message_id_from_reply_address(address: str) -> int | None:
    """The message id inside a `reply_address` (in any letter case), or None for any
    address this installation did not make."""
    return _message_id_from_address("reply", address)


def unsubscribe_address(message_id: int, *, domain: str) -> str:
    """The per-message address of List-Unsubscribe's mailto: for message `message_id`, on
    the store's reply `domain` (where Aftersale receives mail); a mail to it unsubscribes
    the message's recipient. `message_id_from_unsubscribe_address` recognises it."""
    return _signed_address("unsubscribe", message_id, domain=domain)


def message_id_from_unsubscribe_address(address: str) -> int | None:
    """The message id inside an `unsubscribe_address` (in any letter case), or None for
    any address this installation did not make."""
    return _message_id_from_address("unsubscribe", address)


def _signed_address(kind: str, message_id: int, *, domain: str) -> str:
    return f"{kind}+{message_id}-{_address_digest(kind, message_id)}@{domain}"


def _message_id_from_address(kind: str, address: str) -> int | None:
    local = address.strip().strip("<>").rpartition("@")[0].lower()
    match = _ADDRESS_LOCAL.match(local)
    if match is None or match.group(1) != kind:
        return None
    message_id = int(match.group(2))
    digest = _address_digest(kind, message_id)
    return message_id if constant_time_compare(match.group(3), digest) else None


def _address_digest(kind: str, message_id: int) -> str:
    digest = salted_hmac(_ADDRESS_SALTS[kind], str(message_id), algorithm="sha256")
    return digest.hexdigest()[:16]


def open_pixel_url(message_id: int) -> str:
    """The public URL of message `message_id`'s 1x1 open pixel."""
    return f"{_public_base()}/o/{open_token(message_id)}.gif"


class ClickRedirects:
    """The click redirects of one message: `PUBLIC_URL/c/<token>/` per destination, the
    same destination twice being one link (one index), so "first click on a link" means
    per destination; `destinations` by link index."""

    def __init__(self, *, message_id: int) -> None:
        self.base = _public_base()
        self.own_prefix = self.base + "/"
        self.message_id = message_id
        self.by_destination: dict[str, str] = {}  # insertion order = link index
        self.signed: str | None = None  # every link of the message carries one signature

    def redirect(self, destination: str) -> str:
        """The redirect URL of `destination`, numbered the first time it is seen."""
        url = self.by_destination.get(destination)
        if url is None:  # an email repeats its product links
            if self.signed is None:
                self.signed = signature(str(self.message_id), salt=_CLICK_SALT)
            token = click_token(self.message_id, len(self.by_destination), signed=self.signed)
            url = self.by_destination[destination] = f"{self.base}/c/{token}/"
        return url

    @property
    def destinations(self) -> list[str]:
        return list(self.by_destination)


def track_links(page: str, *, message_id: int) -> tuple[str, list[str]]:
    """`page` (HTML) with every shop link replaced by its click redirect (see
    ClickRedirects), and the destinations by link index. Unsubscribe, tracking and
    mailto links stay as they are."""
    redirects = ClickRedirects(message_id=message_id)

    def wrap(match: re.Match[str]) -> str:
        url = html.unescape(match.group(3)).strip()
        if not is_shop_link(url, own_prefix=redirects.own_prefix):
            return match.group(0)
        return f"{match.group(1)}{match.group(2)}{redirects.redirect(url)}{match.group(2)}"

    return _sub_hrefs(wrap, page), redirects.destinations


_BODY_END = re.compile(r"</body\s*>", re.IGNORECASE)


def add_open_pixel(page: str, *, message_id: int) -> str:
    """`page` (HTML) with a 1x1 transparent open pixel of message `message_id` at the
    end of its body (at the very end when it has no </body>)."""
    return add_pixel(page, src=open_pixel_url(message_id))


def add_pixel(page: str, *, src: str) -> str:
    """`page` (HTML) with a 1x1 image of `src` (an open pixel's URL, HTML-safe) at the
    end of its body (at the very end when it has no </body>)."""
    pixel = (
        f'<img src="{src}" width="1" height="1" alt="" '
        'style="display:block;width:1px;height:1px;border:0;margin:0;padding:0">'
    )
    ends = list(_BODY_END.finditer(page))
    if not ends:
        return page + pixel
    at = ends[-1].start()
    return page[:at] + pixel + page[at:]
