"""Click redirects and the open pixel, reached with Django's test client from links in
emails actually sent over SMTP."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from django.db.models import Count
from django.test import Client
from pytest_django.fixtures import Settings

from aftersale.lib.clock import VirtualClock, use_clock
from aftersale.messaging.models import Engagement, Message
from aftersale.messaging.rendering.links import click_token, open_token
from aftersale.messaging.tests.factories import Scenario, make_scenario
from aftersale.stores.models import Store
from aftersale.tracking.models import Event, EventKind
from aftersale.tracking.selectors import human_open_filter
from aftersale.tracking.tests.helpers import PUBLIC, paths_of, send_one

BROWSER = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Thunderbird/128.0"


@pytest.fixture
def scenario(store: Store, clock: VirtualClock, settings: Settings) -> Scenario:
    settings.PUBLIC_URL = PUBLIC
    return make_scenario(store, now=clock.now())


@pytest.fixture
def sent(scenario: Scenario, clock: VirtualClock, tmp_path: Path) -> tuple[Message, list[str]]:
    """A delivered cross-sell email and the click paths in it; the clock then moves on
    an hour, as a real reader would."""
    message = scenario.message("cross-sell-offer", now=clock.now())
    received = send_one(message, clock=clock, outbox=tmp_path)
    clock.advance(dt.timedelta(hours=1))
    return message, paths_of(received, "c")


def test_the_sent_message_records_the_destinations_its_links_redirect_to(
    sent: tuple[Message, list[str]],
) -> None:
    message, clicks = sent
    assert len(clicks) == len(message.tracked_urls) >= 2
    assert all(url.startswith("https://shop.example.com") for url in message.tracked_urls)
    assert all("utm_campaign=post-purchase-upsell" in url for url in message.tracked_urls)


def test_a_click_redirects_to_the_recorded_url_and_only_the_first_click_is_recorded(
    sent: tuple[Message, list[str]], clock: VirtualClock
) -> None:
    message, clicks = sent
    client = Client()
    with use_clock(clock):
        first = client.get(clicks[0])
        clock.advance(dt.timedelta(minutes=5))
        again = client.get(clicks[0])
        other = client.get(clicks[1])
    assert first.status_code == again.status_code == other.status_code == 302
    assert first["Location"] == again["Location"] == message.tracked_urls[0]
    assert other["Location"] == message.tracked_urls[1]
    events = Event.objects.filter(message=message, kind=EventKind.CLICKED).order_by("id")
    assert [(e.url, e.occurred_at) for e in events] == [
        (message.tracked_urls[0], clock.now() - dt.timedelta(minutes=5)),
        (message.tracked_urls[1], clock.now()),
    ]
    assert all(e.customer_id == message.customer_id for e in events)
    assert _engagement(message) == Engagement.CLICKED  # two links, one message clicked


def test_a_tampered_or_foreign_click_token_is_refused_and_records_nothing(
    sent: tuple[Message, list[str]],
) -> None:
    message, clicks = sent
    token = clicks[0].removeprefix("/c/").removesuffix("/")
    forged = [
        token.replace(f"{message.pk}.0:", f"{message.pk + 1}.0:", 1),  # another message
        # A link index the message never had (the signature covers the message only).
        token.replace(f"{message.pk}.0:", f"{message.pk}.{len(message.tracked_urls)}:", 1),
        token[:-2] + ("AA" if not token.endswith("AA") else "BB"),  # broken signature
        open_token(message.pk),  # a valid token of another kind
        "garbage",
    ]
    for bad in forged:
        assert Client().get(f"/c/{bad}/").status_code == 404, bad
    assert not Event.objects.filter(kind=EventKind.CLICKED).exists()


def test_another_link_index_reaches_only_that_link_of_the_same_message(
    sent: tuple[Message, list[str]],
) -> None:
    message, clicks = sent
    second = clicks[0].replace(f"/c/{message.pk}.0:", f"/c/{message.pk}.1:", 1)
    response = Client().get(second)
    assert response.status_code == 302 and response["Location"] == message.tracked_urls[1]


def test_a_validly_signed_link_the_message_never_had_is_refused(
    sent: tuple[Message, list[str]],
) -> None:
    message, _ = sent
    beyond = click_token(message.pk, len(message.tracked_urls))
    assert Client().get(f"/c/{beyond}/").status_code == 404
    # A message that was never sent has recorded no destinations: nothing to redirect to.
    queued = Message.objects.create(
        **{
            f.attname: getattr(message, f.attname)
            for f in Message._meta.concrete_fields
            if f.attname not in {"id", "idempotency_key", "tracked_urls"}
        },
        idempotency_key="unsent",
    )
    assert Client().get(f"/c/{click_token(queued.pk, 0)}/").status_code == 404
    assert not Event.objects.filter(kind=EventKind.CLICKED).exists()


def test_the_pixel_is_a_transparent_gif_and_repeat_opens_add_no_events(
    sent: tuple[Message, list[str]], clock: VirtualClock
) -> None:
    message, _ = sent
    pixel = f"/o/{open_token(message.pk)}.gif"
    client = Client(headers={"User-Agent": BROWSER})
    with use_clock(clock):
        first = client.get(pixel)
        clock.advance(dt.timedelta(hours=2))
        second = client.get(pixel)
    assert first.status_code == second.status_code == 200
    assert first["Content-Type"] == "image/gif" and first.content.startswith(b"GIF89a")
    assert "no-store" in first["Cache-Control"]
    (opened,) = Event.objects.filter(message=message, kind=EventKind.OPENED)
    assert opened.data == {"machine": False}
    assert opened.occurred_at == clock.now() - dt.timedelta(hours=2)


def test_the_pixel_in_the_sent_email_is_the_one_that_records_the_open(
    scenario: Scenario, clock: VirtualClock, tmp_path: Path
) -> None:
    message = scenario.message("thank-you", now=clock.now())
    (pixel,) = paths_of(send_one(message, clock=clock, outbox=tmp_path), "o")
    clock.advance(dt.timedelta(minutes=30))
    with use_clock(clock):
        assert Client(headers={"User-Agent": BROWSER}).get(pixel).status_code == 200
    assert Event.objects.filter(message=message, kind=EventKind.OPENED).count() == 1


def test_machine_opens_are_flagged_and_do_not_count_as_reads_but_a_later_read_does(
    scenario: Scenario, clock: VirtualClock, tmp_path: Path
) -> None:
    message = scenario.message("cross-sell-offer", now=clock.now())
    send_one(message, clock=clock, outbox=tmp_path)
    pixel = f"/o/{open_token(message.pk)}.gif"
    with use_clock(clock):
        # Apple Mail Privacy Protection fetches on delivery with a bare user agent;
        # a second proxy fetch adds nothing.
        clock.advance(dt.timedelta(seconds=3))
        Client(headers={"User-Agent": "Mozilla/5.0"}).get(pixel)
        Client(headers={"User-Agent": "Mozilla/5.0"}).get(pixel)
        assert _reads(message) == 0
        assert _engagement(message) == 0
        clock.advance(dt.timedelta(hours=5))
        Client(headers={"User-Agent": BROWSER}).get(pixel)
    opens = Event.objects.filter(message=message, kind=EventKind.OPENED).order_by("id")
    assert [e.data["machine"] for e in opens] == [True, False]
    assert opens[0].data["why"] == "apple mail privacy protection"
    assert _reads(message) == 1
    assert _engagement(message) == Engagement.READ


def test_an_ordinary_client_fetching_within_seconds_of_delivery_is_a_machine(
    scenario: Scenario, clock: VirtualClock, tmp_path: Path
) -> None:
    message = scenario.message("cross-sell-offer", now=clock.now())
    send_one(message, clock=clock, outbox=tmp_path)
    with use_clock(clock):
        clock.advance(dt.timedelta(seconds=2))
        Client(headers={"User-Agent": BROWSER}).get(f"/o/{open_token(message.pk)}.gif")
    (opened,) = Event.objects.filter(message=message, kind=EventKind.OPENED)
    assert opened.data == {"machine": True, "why": "within seconds of delivery"}
    assert _reads(message) == 0


def test_opens_recorded_without_the_flag_by_other_sources_count_as_reads(
    sent: tuple[Message, list[str]], clock: VirtualClock
) -> None:
    message, _ = sent
    Event.objects.create(
        store=message.store,
        customer=message.customer,
        message=message,
        kind=EventKind.OPENED,
        occurred_at=clock.now(),
    )
    assert _reads(message) == 1


def test_a_pixel_of_a_message_never_sent_records_nothing(
    scenario: Scenario, clock: VirtualClock
) -> None:
    message = scenario.message("thank-you", now=clock.now())
    response = Client().get(f"/o/{open_token(message.pk)}.gif")
    assert response.status_code == 200
    assert not Event.objects.filter(kind=EventKind.OPENED).exists()


def test_a_tampered_pixel_token_is_refused(sent: tuple[Message, list[str]]) -> None:
    message, clicks = sent
    for bad in (f"{message.pk}:forged", clicks[0].removeprefix("/c/").removesuffix("/")):
        assert Client().get(f"/o/{bad}.gif").status_code == 404
    assert not Event.objects.exists()


def _reads(message: Message) -> int:
    """Read as the report counts it: messages with a human open."""
    row = Message.objects.filter(pk=message.pk).aggregate(
        read=Count("events__message_id", filter=human_open_filter(prefix="events__"), distinct=True)
    )
    return int(row["read"])


def test_head_requests_of_link_checkers_redirect_but_record_nothing(
    sent: tuple[Message, list[str]],
) -> None:
    message, clicks = sent
    assert Client().head(clicks[0]).status_code == 302
    assert Client().head(f"/o/{open_token(message.pk)}.gif").status_code == 200
    assert not Event.objects.exists()


def _engagement(message: Message) -> int:
    """The Engagement bits the message row carries for the reports."""
    return Message.objects.values_list("engagement", flat=True).get(pk=message.pk)
