"""A store's own email transport and the postal-address rule, on the sending path: two
stores send to two real SMTP servers on 127.0.0.1, each through its own; a store whose
relay is down waits without holding the others up; a store without a postal address
keeps its marketing emails queued and sends its order confirmations."""

from __future__ import annotations

import datetime as dt
import email
import logging
import socket
from email import policy
from pathlib import Path

import pytest

from aftersale.lib.clock import VirtualClock
from aftersale.messaging.delivery.capture import CaptureServer
from aftersale.messaging.delivery.sending import (
    OWN_TRANSPORT_RETRY,
    send_queued_messages,
    send_store_notice,
)
from aftersale.messaging.delivery.transports.base import Outcome
from aftersale.messaging.delivery.transports.configured import (
    describe_transport,
    transport_for_store,
)
from aftersale.messaging.delivery.transports.esp import AnymailTransport
from aftersale.messaging.delivery.transports.smtp import SmtpTransport
from aftersale.messaging.models import Message, MessageStatus
from aftersale.messaging.outbox.selectors import held_for_address
from aftersale.messaging.tests.factories import make_scenario
from aftersale.stores.models import EmailTransport, SmtpSecurity, Store
from aftersale.stores.services import create_store, update_store_settings


def _own_relay(store: Store, port: int) -> Store:
    return update_store_settings(
        store=store,
        email_transport=EmailTransport.SMTP,
        smtp_host="127.0.0.1",
        smtp_port=port,
        smtp_security=SmtpSecurity.NONE,
    )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _senders(directory: Path) -> list[str]:
    return [
        str(email.message_from_bytes(path.read_bytes(), policy=policy.default)["From"])
        for path in sorted(directory.glob("*.eml"))
    ]


def test_two_stores_send_each_through_its_own_relay(
    store: Store, clock: VirtualClock, tmp_path: Path
) -> None:
    other = create_store(
        name="Other Shop",
        slug="other-shop",
        now=clock.now(),
        physical_address="3 Side Street, Springfield, USA",
        from_email="hi@other.example.com",
    )
    update_store_settings(store=store, from_name="Ada at Test Shop")
    ours = make_scenario(store, now=clock.now()).message("thank-you", now=clock.now())
    theirs = make_scenario(other, now=clock.now()).message("thank-you", now=clock.now())
    with CaptureServer(tmp_path / "a") as relay_a, CaptureServer(tmp_path / "b") as relay_b:
        _own_relay(store, relay_a.port)
        _own_relay(other, relay_b.port)
        summary = send_queued_messages(now=clock.now())

    assert summary.delivered == 2
    assert _senders(tmp_path / "a") == ["Ada at Test Shop <hello@shop.example.com>"]
    assert _senders(tmp_path / "b") == ["Other Shop <hi@other.example.com>"]
    for message in (ours, theirs):
        message.refresh_from_db()
        assert message.status == MessageStatus.DELIVERED


def test_a_store_whose_relay_is_down_waits_and_the_others_go_on(
    store: Store, clock: VirtualClock, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    other = create_store(
        name="Other Shop",
        slug="other-shop",
        now=clock.now(),
        physical_address="3 Side Street, Springfield, USA",
    )
    down = _free_port()
    waiting = make_scenario(store, now=clock.now()).message("thank-you", now=clock.now())
    going = make_scenario(other, now=clock.now()).message("thank-you", now=clock.now())
    _own_relay(store, down)
    with CaptureServer(tmp_path) as relay, caplog.at_level(logging.WARNING):
        _own_relay(other, relay.port)
        summary = send_queued_messages(now=clock.now())

    assert (summary.delivered, summary.deferred, summary.fault) == (1, 1, "")
    waiting.refresh_from_db()
    going.refresh_from_db()
    assert going.status == MessageStatus.DELIVERED
    assert waiting.status == MessageStatus.QUEUED and waiting.attempts == 0
    assert waiting.send_after == clock.now() + OWN_TRANSPORT_RETRY
    assert "own email transport cannot be used" in waiting.error
    assert "store test-shop: its own email transport cannot be used" in caplog.text


def test_a_store_without_a_postal_address_keeps_marketing_queued_and_sends_confirmations(
    db: None, clock: VirtualClock, tmp_path: Path
) -> None:
    store = create_store(name="New Shop", slug="new-shop", now=clock.now())
    assert store.physical_address == ""
    scenario = make_scenario(store, now=clock.now())
    marketing = scenario.message("thank-you", now=clock.now())
    confirmation = scenario.message("order-confirmation", now=clock.now())
    assert held_for_address(store=store) == 1

    with CaptureServer(tmp_path) as relay:
        _own_relay(store, relay.port)
        summary = send_queued_messages(now=clock.now())
        assert summary.delivered == 1
        marketing.refresh_from_db()
        confirmation.refresh_from_db()
        assert confirmation.status == MessageStatus.DELIVERED
        assert (marketing.status, marketing.attempts) == (MessageStatus.QUEUED, 0)

        update_store_settings(store=store, physical_address="5 Elm Road, Springfield, USA")
        assert held_for_address(store=store) == 0
        later = clock.now() + dt.timedelta(minutes=1)
        assert send_queued_messages(now=later).delivered == 1
    assert Message.objects.get(pk=marketing.pk).status == MessageStatus.DELIVERED
    assert "5 Elm Road" in (tmp_path / "000002.eml").read_text()


def test_a_test_notice_says_delivered_or_why_not(
    store: Store, clock: VirtualClock, tmp_path: Path
) -> None:
    with CaptureServer(tmp_path) as relay:
        _own_relay(store, relay.port)
        result = send_store_notice(
            store=store, to="ada@example.com", subject="Test", text="Hello.", now=clock.now()
        )
    assert result.outcome is Outcome.ACCEPTED
    assert relay.count == 1

    down = _free_port()
    _own_relay(store, down)
    store.refresh_from_db()
    refused = send_store_notice(
        store=store, to="ada@example.com", subject="Test", text="Hello.", now=clock.now()
    )
    assert refused.outcome is Outcome.UNAVAILABLE
    assert "refused" in refused.detail.lower()


def test_a_store_with_an_email_service_sends_through_it_with_its_own_key(store: Store) -> None:
    update_store_settings(
        store=store, email_transport=EmailTransport.ESP, esp_name="postmark", esp_api_key="pm-1"
    )
    transport = transport_for_store(store)
    assert isinstance(transport, AnymailTransport)
    assert transport.backend.server_token == "pm-1"  # type: ignore[attr-defined]
    assert describe_transport(store) == "the store's email service postmark"


def test_a_store_on_the_environment_uses_the_configured_transport(store: Store) -> None:
    assert isinstance(transport_for_store(store), SmtpTransport)
    assert describe_transport(store).startswith("the installation's SMTP relay")
