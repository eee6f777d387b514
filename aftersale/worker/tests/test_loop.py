"""The worker loop's own behaviour around its passes (what a pass does is tested in
flows' test_triggers and test_scheduler, and under kills in test_crash)."""

from __future__ import annotations

import datetime as dt
import gc
import logging
import threading
from collections.abc import Iterator

import pytest
from django.test import Client
from pytest_django.fixtures import Settings

from aftersale.lib.clock import VirtualClock, use_clock
from aftersale.lib.logs import JsonLines
from aftersale.messaging.models import Message, MessageStatus, Suppression
from aftersale.messaging.tests.factories import make_scenario
from aftersale.messaging.tests.smtp_servers import SenderRefusingHandler, serving
from aftersale.stores.models import EmailTransport, SmtpSecurity, Store
from aftersale.stores.services import create_api_key, create_store, update_store_settings
from aftersale.worker.loop import (
    PERIODIC_EVERY,
    SEND_PAUSE_FIRST,
    SEND_PAUSE_MAX,
    SendingPause,
    WorkerSettings,
    WorkerTotals,
    run_pass,
    run_worker,
)
from aftersale.worker.tests.crash_scenario import free_port

CONFIG = WorkerSettings(worker_id="w", batch_size=10, idle_seconds=0)


class StopAfter(threading.Event):
    """A stop signal that is set once the loop has asked about it `passes` times, so a
    test drives exactly that many passes in its own thread without waiting."""

    def __init__(self, passes: int) -> None:
        super().__init__()
        self.left = passes

    def is_set(self) -> bool:
        self.left -= 1
        return self.left < 0


@pytest.fixture
def unfrozen():
    gc.unfreeze()
    yield
    gc.unfreeze()  # the test process goes on collecting as before


@pytest.mark.django_db(transaction=True)
def test_the_worker_freezes_what_it_loaded_after_its_first_pass(unfrozen) -> None:
    loaded = [[n] for n in range(10)]  # live containers, as the process's own are

    totals = run_worker(config=CONFIG, stop=StopAfter(passes=2))

    assert totals.passes == 2
    assert gc.get_freeze_count() > 0
    walked = {id(thing) for thing in gc.get_objects()}  # what collections walk
    assert not any(id(thing) in walked for thing in loaded)


@pytest.mark.django_db(transaction=True)
def test_a_single_pass_worker_freezes_nothing(unfrozen) -> None:
    totals = run_worker(config=CONFIG, stop=threading.Event(), once=True)

    assert totals.passes == 1
    assert gc.get_freeze_count() == 0


T0 = dt.datetime(2024, 3, 4, 9, 0, tzinfo=dt.UTC)
RELAY_REFUSAL = "550 5.7.1 Sender address rejected: not owned by the authenticated user"


@pytest.fixture
def relay(settings: Settings) -> Iterator[SenderRefusingHandler]:
    """A real SMTP relay on 127.0.0.1, the configured transport, refusing our sender
    (MAIL FROM) with RELAY_REFUSAL twice, then accepting."""
    handler = SenderRefusingHandler(RELAY_REFUSAL, times=2)
    with serving(handler) as port:
        settings.EMAIL_TRANSPORT, settings.EMAIL_HOST, settings.EMAIL_PORT = (
            "smtp",
            "127.0.0.1",
            port,
        )
        settings.EMAIL_USE_SSL = settings.EMAIL_USE_TLS = False
        settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
        yield handler


def _queue_three(store: Store, clock: VirtualClock) -> list[Message]:
    scenario = make_scenario(store, now=clock.now())
    return [
        scenario.message(slug, now=clock.now())
        for slug in ("thank-you", "cross-sell-offer", "offer-reminder")
    ]


def test_a_refused_sender_fails_no_message_and_sending_resumes_when_the_relay_accepts(
    store: Store, clock: VirtualClock, relay: SenderRefusingHandler
) -> None:
    messages = _queue_three(store, clock)
    totals = WorkerTotals()
    with use_clock(clock):
        run_pass(config=CONFIG, totals=totals)  # refused
        rows = list(Message.objects.order_by("pk"))
        assert [(m.status, m.attempts, m.error) for m in rows] == [("queued", 0, "")] * 3
        assert all(m.claimed_until is None and m.send_after <= clock.now() for m in rows)
        for _ in range(2):  # the retry after the pause is refused too, then accepted
            clock.advance(SEND_PAUSE_MAX)
            run_pass(config=CONFIG, totals=totals)
    assert relay.refused_senders == [store.from_email] * 2
    rows = list(Message.objects.order_by("pk"))
    assert [m.pk for m in rows] == [m.pk for m in messages]
    assert [(m.status, m.attempts, m.error) for m in rows] == [("delivered", 0, "")] * 3
    assert not Suppression.objects.exists()
    assert totals.sending_pause == SendingPause()  # resumed: the next fault starts afresh


def test_sender_refusal_backs_off_and_logs_once_for_the_operator(
    store: Store,
    clock: VirtualClock,
    relay: SenderRefusingHandler,
    caplog: pytest.LogCaptureFixture,
) -> None:
    _queue_three(store, clock)
    totals = WorkerTotals()
    caplog.set_level(logging.INFO, logger="aftersale")
    with use_clock(clock):
        run_pass(config=CONFIG, totals=totals)
        paused_at = clock.now()
        while clock.now() < paused_at + SEND_PAUSE_FIRST:  # passes during the pause
            run_pass(config=CONFIG, totals=totals)
            clock.advance(SEND_PAUSE_FIRST / 3)
        assert len(relay.refused_senders) == 1  # not asked again while paused
        run_pass(config=CONFIG, totals=totals)  # refused again: paused twice as long
        second_pause_at = clock.now()
        assert totals.sending_pause.until == second_pause_at + 2 * SEND_PAUSE_FIRST
        clock.advance(2 * SEND_PAUSE_FIRST - dt.timedelta(seconds=1))
        run_pass(config=CONFIG, totals=totals)
        assert len(relay.refused_senders) == 2
        clock.advance(dt.timedelta(seconds=1))
        run_pass(config=CONFIG, totals=totals)  # accepted
    assert Message.objects.filter(status=MessageStatus.DELIVERED).count() == 3
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    paused, second, resumed = warnings  # once per pause, not once per message
    assert "sending paused for 30 s" in paused and "sending paused for 60 s" in second
    for line in (paused, second):
        assert f"MAIL FROM:<{store.from_email}> refused: {RELAY_REFUSAL}" in line
    assert "sending resumed" in resumed


def test_sending_pauses_double_with_each_fault_in_a_row_up_to_a_cap() -> None:
    pause = SendingPause()
    lengths = [pause.after_fault(at=T0) for _ in range(40)]
    assert lengths[:3] == [SEND_PAUSE_FIRST, 2 * SEND_PAUSE_FIRST, 4 * SEND_PAUSE_FIRST]
    assert lengths[-1] == SEND_PAUSE_MAX and max(lengths) == SEND_PAUSE_MAX


def test_recipient_refusal_still_fails_only_that_message(
    store: Store, clock: VirtualClock, relay: SenderRefusingHandler
) -> None:
    relay.senders_left = 0  # the relay takes our sender...
    relay.reply, relay.remaining = "550 5.1.1 No such mailbox", 1  # ...not the first address
    refused, *others = _queue_three(store, clock)
    totals = WorkerTotals()
    with use_clock(clock):
        run_pass(config=CONFIG, totals=totals)
    refused.refresh_from_db()
    assert refused.status == MessageStatus.BOUNCED and "RCPT: 550 5.1.1" in refused.error
    assert [Message.objects.get(pk=m.pk).status for m in others] == ["delivered"] * 2
    assert totals.sending_pause == SendingPause()  # no pause: the relay is fine


def test_marketing_held_for_a_postal_address_is_logged_once_and_sent_once_one_is_given(
    store: Store,
    clock: VirtualClock,
    relay: SenderRefusingHandler,
    caplog: pytest.LogCaptureFixture,
) -> None:
    relay.senders_left = 0  # this relay accepts at once
    update_store_settings(store=store, physical_address="")
    messages = _queue_three(store, clock)
    totals = WorkerTotals()
    caplog.set_level(logging.INFO, logger="aftersale")
    with use_clock(clock):
        for _ in range(3):
            run_pass(config=CONFIG, totals=totals)
            clock.advance(PERIODIC_EVERY)
        held = [r.getMessage() for r in caplog.records if "postal address" in r.getMessage()]
        assert held == [
            "worker w: 3 marketing emails of store test-shop wait, queued, until it has a "
            "postal address (dashboard Settings, or the admin): the law wants one in every "
            "marketing email"
        ]
        assert {m.status for m in Message.objects.all()} == {"queued"}
        update_store_settings(store=store, physical_address="2 Test Lane, Springfield, USA")
        run_pass(config=CONFIG, totals=totals)
    assert [m.status for m in Message.objects.filter(pk__in=[m.pk for m in messages])] == [
        "delivered"
    ] * 3


def test_a_run_logs_no_customer_address_api_key_or_password(
    store: Store,
    clock: VirtualClock,
    relay: SenderRefusingHandler,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Everything a run logs at DEBUG, as the JSON lines an operator's collector keeps:
    an order posted with an API key, a bad request, a refusing relay, emails sent, and a
    second store whose own relay (with a password) is down."""
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="aftersale")
    down = create_store(
        name="Down Shop", slug="down", physical_address="1 Main St, Springfield", now=clock.now()
    )
    down = update_store_settings(
        store=down,
        email_transport=EmailTransport.SMTP,
        smtp_host="127.0.0.1",
        smtp_port=free_port(),  # nothing listens there
        smtp_security=SmtpSecurity.NONE,
        smtp_username="relay-user",
        smtp_password="relay-pa55word-never-logged",
    )
    _, key = create_api_key(store=store, name="shop", now=clock.now())
    client = Client()
    order = {
        "id": "1001",
        "customer": {"id": "c9", "email": "zoe@example.org", "first_name": "Zoe"},
        "placed_at": clock.now().isoformat(),
        "line_items": [{"product_id": "p1", "name": "Mug", "quantity": 1, "unit_price": "9.99"}],
    }
    for body, status in ((order, 201), ({"id": "broken"}, 422)):
        answer = client.post("/api/v1/orders", body, content_type="application/json",
                             headers={"authorization": f"Bearer {key}"})  # fmt: skip
        assert answer.status_code == status, answer.content
    messages = _queue_three(store, clock) + _queue_three(down, clock)
    totals = WorkerTotals()
    with use_clock(clock):
        for _ in range(4):
            run_pass(config=CONFIG, totals=totals)
            clock.advance(SEND_PAUSE_MAX)
    assert Message.objects.filter(store=store, status=MessageStatus.DELIVERED).count() == 3
    logged = "\n".join(JsonLines().format(record) for record in caplog.records)
    assert "sending paused" in logged and "its own email transport cannot be used" in logged
    secrets = [key, "relay-pa55word-never-logged", "zoe@example.org"]
    secrets += [m.to_email for m in messages]
    assert [secret for secret in secrets if secret in logged] == []
