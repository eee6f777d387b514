"""Reading tracking data: the message behind a token, click destinations, and which
opens count as reads."""

from __future__ import annotations

from django.conf import settings
from django.db.models import Q, QuerySet

from aftersale.messaging.models import Message
from aftersale.messaging.rendering.links import click_from_token
from aftersale.stores.models import Store
from aftersale.tracking.models import Event, EventKind


def tracked_message(*, message_id: int) -> Message | None:
    """Message `message_id` with its store and customer, or None when it does not exist
    (any more)."""
    return Message.objects.select_related("store", "customer").filter(pk=message_id).first()


def click_destination(*, message: Message, index: int) -> str | None:
    """The destination recorded for link `index` of `message` when it was sent, or None
    when the message has no such link: nothing else is ever redirected to."""
    urls = message.tracked_urls
    if not isinstance(urls, list) or not 0 <= index < len(urls):
        return None
    url = urls[index]
    return url if isinstance(url, str) and url.startswith(("http://", "https://")) else None


def human_open_filter(*, prefix: str = "") -> Q:
    """A filter matching `opened` events that count as reads: not flagged machine (a
    privacy proxy or scanner fetching the pixel). `prefix` is the path to the event from
    the queried model, e.g. "events__" from Message, so the report can count reads as
    Count("events__message_id", filter=human_open_filter(prefix="events__"),
    distinct=True). Opens from other sources without the flag count as reads."""
    machine = f"{prefix}data__machine"
    return Q(**{f"{prefix}kind": EventKind.OPENED}) & (
        Q(**{machine: False}) | Q(**{f"{machine}__isnull": True})
    )


def message_for_esp_event(
    *, esp_message_id: str, aftersale_id: int | None, recipient: str
) -> Message | None:
    """The message an ESP's event is about, with its store and customer: the one the ESP
    gave `esp_message_id`, else the one whose Message-ID header it is (Mailgun and
    SendGrid's smtp-id report the header), else message `aftersale_id` (our id, which the
    transport passed as metadata). A message sent to another address than `recipient`
    is never the one: a stray id must not touch another customer's message, and with no
    `recipient` no message is. None when no message matches. One query."""
    if not recipient.strip():
        return None
    wanted = Q()
    if esp_message_id:
        header = esp_message_id if esp_message_id.startswith("<") else f"<{esp_message_id}>"
        wanted |= Q(esp_message_id=esp_message_id) | Q(message_id=header)
    if aftersale_id:
        wanted |= Q(pk=aftersale_id)
    if not wanted:
        return None
    candidates = Message.objects.select_related("store", "customer").filter(wanted)[:10]
    matching = [m for m in candidates if _same_address(m.to_email, recipient)]

    def rank(message: Message) -> int:
        if esp_message_id and message.esp_message_id == esp_message_id:
            return 0
        return 2 if message.pk == aftersale_id else 1

    return min(matching, key=rank, default=None)


def message_replied_to(*, message_ids: list[int], referenced: list[str]) -> Message | None:
    """The message a reply answers, with its store: the first of `message_ids` (read from
    our signed reply addresses) that exists, else the latest message whose Message-ID
    header is among `referenced` (the reply's In-Reply-To and References). None when the
    reply names no message of ours."""
    messages = Message.objects.select_related("store", "customer")
    by_id = {m.pk: m for m in messages.filter(pk__in=message_ids)} if message_ids else {}
    found = next((by_id[pk] for pk in message_ids if pk in by_id), None)
    if found is None and referenced:
        found = messages.filter(message_id__in=referenced).order_by("-pk").first()
    return found


def link_index(*, message: Message, url: str) -> int | None:
    """The index of `message`'s tracked link that `url` leads to: our click redirect for
    that link, or the link's recorded destination (what an ESP that rewrites links itself
    reports). None for any other URL."""
    redirect_prefix = settings.PUBLIC_URL.rstrip("/") + "/c/"
    if url.startswith(redirect_prefix):
        click = click_from_token(url[len(redirect_prefix) :].strip("/"))
        return click[1] if click and click[0] == message.pk else None
    urls = message.tracked_urls if isinstance(message.tracked_urls, list) else []
    return urls.index(url) if url and url in urls else None


def store_for_reply_domain(*, domain: str) -> Store | None:
    """The store whose reply domain is `domain` (any letter case), or None."""
    domain = domain.strip().lower()
    return Store.objects.filter(reply_domain__iexact=domain).first() if domain else None


def reply_domains() -> set[str]:
    """Every store's reply domain, lower-cased: the domains the reply receiver accepts
    mail for."""
    domains = Store.objects.exclude(reply_domain="").values_list("reply_domain", flat=True)
    return {domain.lower() for domain in domains}


def _same_address(first: str, second: str) -> bool:
    return first.strip().lower() == second.strip().lower()


def customer_events(*, customer_id: int) -> QuerySet[Event]:
    """Everything recorded that the customer did, oldest first."""
    return Event.objects.filter(customer_id=customer_id).order_by("occurred_at", "pk")
