"""Installing templates and sending the outbox over real SMTP."""

from __future__ import annotations

import datetime as dt
import email
import threading
import time
from collections.abc import Callable
from email import policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from django.db import OperationalError
from django.db import connection as db_connection
from pytest_django.fixtures import Settings

from aftersale.lib.ahead import StatementsAhead
from aftersale.lib.clock import VirtualClock
from aftersale.messaging.delivery.capture import CaptureServer
from aftersale.messaging.delivery.sending import send_queued_messages, send_test_email
from aftersale.messaging.delivery.transports.base import (
    Outcome,
    OutgoingEmail,
    Payloads,
    SendResult,
    Transport,
)
from aftersale.messaging.delivery.transports.esp import AnymailTransport
from aftersale.messaging.models import (
    EmailTemplate,
    Message,
    MessageStatus,
    SkipReason,
    Suppression,
    SuppressionReason,
)
from aftersale.messaging.outbox.recording import MAX_ATTEMPTS, finished, write_update
from aftersale.messaging.outbox.services import (
    claim_due_messages,
    queue_message,
    report_status,
    suppress,
)
from aftersale.messaging.rendering.links import (
    message_id_from_reply_address,
    message_id_from_unsubscribe_address,
)
from aftersale.messaging.rendering.template_library import install_default_templates
from aftersale.messaging.tests.factories import (
    Scenario,
    make_customer,
    make_message,
    make_scenario,
)
from aftersale.messaging.tests.smtp_servers import (
    DroppingHandler,
    RefusingHandler,
    ScriptedEsp,
    serving,
    smtp_connection,
    smtp_transport,
)
from aftersale.stores.models import Store
from aftersale.stores.services import create_store


@pytest.fixture
def scenario(store: Store, clock: VirtualClock) -> Scenario:
    return make_scenario(store, now=clock.now())


def _parse(path: Path) -> EmailMessage:
    parsed = email.message_from_bytes(path.read_bytes(), policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def test_installing_default_templates_is_idempotent_and_keeps_merchant_edits(
    store: Store, clock: VirtualClock
) -> None:
    first = install_default_templates(store=store, now=clock.now())
    assert [t.slug for t in first] == [
        "thank-you",
        "cross-sell-offer",
        "offer-reminder",
        "order-confirmation",
        "usage-tips",
        "review-request",
        "cross-sell",
        "upsell",
        "replenishment",
        "win-back",
        "checkout-recovery",
    ]
    EmailTemplate.objects.filter(slug="thank-you").update(subject="Edited")
    again = install_default_templates(store=store, now=clock.advance(dt.timedelta(days=1)))
    assert [t.pk for t in again] == [t.pk for t in first]
    assert EmailTemplate.objects.filter(store=store).count() == len(first)
    assert EmailTemplate.objects.get(slug="thank-you").subject == "Edited"


def test_sender_delivers_both_parts_with_one_click_unsubscribe_headers(
    scenario: Scenario, clock: VirtualClock, tmp_path: Path, settings: Settings
) -> None:
    settings.PUBLIC_URL = "https://aftersale.example.com"
    message = scenario.message("cross-sell-offer", now=clock.now())
    with CaptureServer(tmp_path) as server:
        summary = send_queued_messages(now=clock.now(), connection=smtp_connection(server.port))
        assert server.count == 1
    assert summary.delivered == 1 and summary.total == 1
    message.refresh_from_db()
    assert message.status == MessageStatus.DELIVERED
    assert message.sent_at == message.delivered_at == clock.now()
    parsed = _parse(server.messages()[0])
    assert parsed["Message-ID"] == message.message_id
    assert parsed["Subject"] == message.subject == "15% off: a few picks for you"
    assert parsed["From"] == "Test Shop <hello@shop.example.com>"
    assert parsed["To"] == scenario.customer.email
    unsubscribe = str(parsed["List-Unsubscribe"]).strip()
    assert unsubscribe.startswith("<https://aftersale.example.com/u/")
    assert "mailto:" not in unsubscribe  # the store receives no mail: nobody would act on it
    assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    text = parsed.get_body(preferencelist=("plain",))
    html = parsed.get_body(preferencelist=("html",))
    assert text is not None and html is not None
    assert scenario.coupon.code in text.get_content()
    assert "Claim my discount" in html.get_content()


def test_sender_opens_its_own_connection_from_settings_and_reuses_it(
    scenario: Scenario, clock: VirtualClock, settings: Settings
) -> None:
    for slug in ("thank-you", "cross-sell-offer", "offer-reminder"):
        scenario.message(slug, now=clock.now())
    handler = RefusingHandler()
    with serving(handler) as port:
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_PORT, settings.EMAIL_HOST = port, "127.0.0.1"
        summary = send_queued_messages(now=clock.now())
    assert summary.delivered == 3
    assert len({peer for peer, _ in handler.received}) == 1  # one connection for the batch


def test_a_5xx_refusal_marks_the_message_bounced(scenario: Scenario, clock: VirtualClock) -> None:
    message = scenario.message("thank-you", now=clock.now())
    with serving(RefusingHandler("550 5.1.1 No such mailbox", times=1)) as port:
        summary = send_queued_messages(now=clock.now(), connection=smtp_connection(port))
    assert summary.bounced == 1
    message.refresh_from_db()
    assert message.status == MessageStatus.BOUNCED and message.bounced_at == clock.now()
    assert "550" in message.error and "No such mailbox" in message.error


def test_a_4xx_refusal_defers_and_the_retry_later_delivers(
    scenario: Scenario, clock: VirtualClock, tmp_path: Path
) -> None:
    message = scenario.message("thank-you", now=clock.now())
    with serving(RefusingHandler("451 4.3.0 Try again later", times=1)) as port:
        assert send_queued_messages(now=clock.now(), connection=smtp_connection(port)).deferred == 1
    message.refresh_from_db()
    assert message.status == MessageStatus.QUEUED and message.attempts == 1
    assert message.send_after == clock.now() + dt.timedelta(minutes=5)
    assert "451" in message.error
    with CaptureServer(tmp_path) as server:
        connection = smtp_connection(server.port)
        assert send_queued_messages(now=clock.now(), connection=connection).total == 0
        later = clock.advance(dt.timedelta(minutes=5))
        assert send_queued_messages(now=later, connection=connection).delivered == 1
    message.refresh_from_db()
    assert message.status == MessageStatus.DELIVERED and server.count == 1
    assert message.error == ""  # the refusal of the first attempt is cleared


def test_a_message_fails_after_the_last_retry(scenario: Scenario, clock: VirtualClock) -> None:
    message = scenario.message("thank-you", now=clock.now())
    Message.objects.filter(pk=message.pk).update(attempts=MAX_ATTEMPTS - 1)
    with serving(RefusingHandler("452 4.2.2 Mailbox full", times=1)) as port:
        assert send_queued_messages(now=clock.now(), connection=smtp_connection(port)).failed == 1
    message.refresh_from_db()
    assert message.status == MessageStatus.FAILED and "452" in message.error


def test_the_connection_is_reopened_after_the_server_drops_it(
    scenario: Scenario, clock: VirtualClock
) -> None:
    first = scenario.message("thank-you", now=clock.now())
    second = scenario.message("cross-sell-offer", now=clock.now())
    handler = RefusingHandler("421 4.3.2 Shutting down, closing connection", times=1)
    with serving(handler) as port:
        summary = send_queued_messages(now=clock.now(), connection=smtp_connection(port))
    assert (summary.deferred, summary.delivered) == (1, 1)
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.status == MessageStatus.QUEUED and first.attempts == 1
    assert second.status == MessageStatus.DELIVERED


def test_when_the_server_is_unreachable_the_batch_waits_and_nothing_is_lost(
    scenario: Scenario, clock: VirtualClock
) -> None:
    for slug in ("thank-you", "cross-sell-offer", "offer-reminder"):
        scenario.message(slug, now=clock.now())
    with serving(RefusingHandler()) as port:
        pass  # the port is free again: nobody listens there
    summary = send_queued_messages(now=clock.now(), connection=smtp_connection(port))
    assert summary.deferred == 3
    assert Message.objects.filter(status=MessageStatus.QUEUED, claimed_until=None).count() == 3


def test_a_broken_template_fails_its_message_with_the_error_and_keeps_it(
    scenario: Scenario, clock: VirtualClock, tmp_path: Path
) -> None:
    template = scenario.templates["thank-you"]
    template.body_mjml = "<mjml>{{ ''.__class__.__mro__ }}</mjml>"
    template.updated_at = clock.now() + dt.timedelta(seconds=1)
    template.save()
    broken = scenario.message("thank-you", now=clock.now())
    fine = scenario.message("offer-reminder", now=clock.now())
    with CaptureServer(tmp_path) as server:
        summary = send_queued_messages(now=clock.now(), connection=smtp_connection(server.port))
    assert (summary.failed, summary.delivered) == (1, 1)
    broken.refresh_from_db()
    fine.refresh_from_db()
    assert broken.status == MessageStatus.FAILED
    assert "template 'thank-you'" in broken.error and "__class__" in broken.error
    assert fine.status == MessageStatus.DELIVERED


def test_a_runaway_template_fails_its_messages_with_the_limit_and_the_pass_goes_on(
    scenario: Scenario, clock: VirtualClock, tmp_path: Path
) -> None:
    template = scenario.templates["thank-you"]
    template.body_mjml = (
        "{% for a in 'a'*100000 %}{% for b in 'b'*100000 %}{% endfor %}{% endfor %}"
    )
    template.updated_at = clock.now() + dt.timedelta(seconds=1)
    template.save()
    runaway = [scenario.message("thank-you", now=clock.now()) for _ in range(3)]
    other_store = create_store(
        physical_address="2 Test Lane, Springfield, USA",
        name="Other Shop",
        slug="other-shop",
        now=clock.now(),
    )
    other = make_scenario(other_store, now=clock.now()).message("thank-you", now=clock.now())
    with CaptureServer(tmp_path) as server:
        summary = send_queued_messages(now=clock.now(), connection=smtp_connection(server.port))
    assert (summary.failed, summary.delivered) == (3, 1)
    for message in runaway:
        message.refresh_from_db()
        assert message.status == MessageStatus.FAILED
        assert message.error == (
            "template 'thank-you' line 1: exceeded its limits: "
            "over 2,000,000 loop iterations and calls"
        )
    other.refresh_from_db()
    assert other.status == MessageStatus.DELIVERED


@pytest.mark.parametrize("consent", ["unsubscribed", "no_marketing"])
def test_customers_without_marketing_consent_are_skipped(
    store: Store, clock: VirtualClock, tmp_path: Path, consent: str
) -> None:
    customer = make_customer(
        store,
        now=clock.now(),
        accepts_marketing=consent != "no_marketing",
        unsubscribed_at=clock.now() if consent == "unsubscribed" else None,
    )
    scenario = make_scenario(store, now=clock.now(), customer=customer)
    marketing = scenario.message("cross-sell-offer", now=clock.now())
    receipt = scenario.message("order-confirmation", now=clock.now())
    with CaptureServer(tmp_path) as server:
        summary = send_queued_messages(now=clock.now(), connection=smtp_connection(server.port))
    assert (summary.skipped, summary.delivered) == (1, 1)
    marketing.refresh_from_db()
    receipt.refresh_from_db()
    assert marketing.status == MessageStatus.SKIPPED and "customer" in marketing.error
    assert marketing.skip_reason == SkipReason.NO_CONSENT
    assert receipt.status == MessageStatus.DELIVERED  # transactional mail still goes out
    assert "List-Unsubscribe" not in _parse(server.messages()[0])


def test_messages_not_yet_due_are_left_alone(scenario: Scenario, clock: VirtualClock) -> None:
    scenario.message("thank-you", now=clock.now(), send_after=clock.now() + dt.timedelta(hours=1))
    assert claim_due_messages(now=clock.now()) == []


def test_an_accepted_email_recorded_ahead_reads_back_exactly_as_written(
    scenario: Scenario, clock: VirtualClock
) -> None:
    scenario.message("thank-you", now=clock.now())
    [message] = claim_due_messages(now=clock.now(), worker_id="a")
    links = ['https://shop.example.com/p/1?utm_source=aftersale&q="x"', "https://ex.com/é/\\"]
    subject = 'Thanks, "Ada" — 15% off ✓'
    update = finished(
        message,
        MessageStatus.DELIVERED,
        error="",
        sent_at=clock.now(),
        delivered_at=clock.now(),
        subject=subject,
        message_id="<aftersale.1.ab@shop.example.com>",
        tracked_urls=links,
    )
    with db_connection.cursor() as cursor:
        statements = StatementsAhead(cursor)
        with statements.guarding():
            write_update(update, statements=statements)
            write_update(update, statements=statements)  # again: no longer queued, no change
    message.refresh_from_db()
    assert message.status == MessageStatus.DELIVERED
    assert (message.subject, message.tracked_urls) == (subject, links)
    assert message.sent_at == message.delivered_at == clock.now()
    assert message.message_id == "<aftersale.1.ab@shop.example.com>"
    assert message.claimed_until is None


def test_two_claims_at_the_same_moment_never_share_a_message(
    scenario: Scenario, clock: VirtualClock
) -> None:
    for _ in range(6):
        scenario.message("thank-you", now=clock.now())
    first = claim_due_messages(now=clock.now(), limit=4, worker_id="a")
    second = claim_due_messages(now=clock.now(), limit=4, worker_id="b")
    assert len(first) == 4 and len(second) == 2
    assert not {m.pk for m in first} & {m.pk for m in second}


def test_an_expired_claim_can_be_taken_over(scenario: Scenario, clock: VirtualClock) -> None:
    scenario.message("thank-you", now=clock.now())
    lease = dt.timedelta(minutes=5)
    assert len(claim_due_messages(now=clock.now(), worker_id="dead", lease=lease)) == 1
    assert claim_due_messages(now=clock.now() + dt.timedelta(minutes=1), worker_id="b") == []
    later = clock.now() + dt.timedelta(minutes=6)
    assert len(claim_due_messages(now=later, worker_id="b", lease=lease)) == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_workers_never_claim_the_same_message(clock: VirtualClock) -> None:
    store = create_store(
        physical_address="2 Test Lane, Springfield, USA",
        name="Busy Shop",
        slug="busy-shop",
        now=clock.now(),
    )
    scenario = make_scenario(store, now=clock.now())
    for _ in range(40):
        scenario.message("thank-you", now=clock.now())
    results: dict[str, list[int]] = {}
    start = threading.Barrier(4)

    def claim(name: str) -> list[int]:
        # The test database is shared-cache in-memory SQLite, which reports a busy table
        # at once instead of waiting like a file database does: wait here instead.
        while True:
            try:
                return [m.pk for m in claim_due_messages(now=clock.now(), limit=15, worker_id=name)]
            except OperationalError:
                time.sleep(0.001)

    def work(name: str) -> None:
        start.wait()
        try:
            results[name] = claim(name)
        finally:
            db_connection.close()

    threads = [threading.Thread(target=work, args=(f"w{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    claimed = [pk for pks in results.values() for pk in pks]
    assert len(results) == 4
    assert len(claimed) == len(set(claimed))
    assert Message.objects.exclude(claimed_by="").count() == len(claimed)


def _message_to(scenario: Scenario, email: str, *, now: dt.datetime) -> Message:
    customer = make_customer(scenario.store, now=now, email=email)
    return make_message(template=scenario.templates["thank-you"], customer=customer, now=now)


def _received(handler: RefusingHandler) -> list[EmailMessage]:
    parsed = [email.message_from_bytes(c, policy=policy.default) for _, c in handler.received]
    return [p for p in parsed if isinstance(p, EmailMessage)]


def test_pipelined_smtp_with_refusals_and_a_drop_loses_and_repeats_nothing(
    scenario: Scenario, clock: VirtualClock
) -> None:
    messages = [_message_to(scenario, f"buyer{n}@example.org", now=clock.now()) for n in range(6)]

    class Trouble(DroppingHandler):
        rcpt_count = 0

        async def handle_RCPT(self, server, session, envelope, address, options):  # type: ignore[no-untyped-def]
            if self.rcpt_count == 2:
                reply = "550 5.1.1 No such mailbox"
            elif self.rcpt_count == 3:
                reply = "451 4.3.0 Try again later"
            else:
                reply = ""
            self.rcpt_count += 1
            return reply or await super().handle_RCPT(server, session, envelope, address, options)

    handler = Trouble(times=1, pipelining=True)  # drops the first email's content
    with serving(handler) as port:
        transport = smtp_transport(port)
        summary = send_queued_messages(now=clock.now(), connection=transport)
        statuses = {m.pk: m.status for m in Message.objects.all()}
        later = clock.advance(dt.timedelta(minutes=5))
        retried = send_queued_messages(now=later, connection=transport)
        transport.close()
    assert (summary.delivered, summary.bounced, summary.deferred) == (3, 1, 2)
    assert [statuses[m.pk] for m in messages[:3]] == ["queued", "delivered", "bounced"]
    assert retried.delivered == 2
    final = {m.pk: m for m in Message.objects.all()}
    assert [final[m.pk].status for m in messages].count(MessageStatus.DELIVERED) == 5
    assert final[messages[2].pk].status == MessageStatus.BOUNCED
    assert Suppression.objects.filter(email="buyer2@example.org").exists()
    delivered_ids = sorted(str(p["X-Aftersale-Message"]) for p in _received(handler))
    assert delivered_ids == sorted(
        str(m.pk) for m in messages if final[m.pk].status == MessageStatus.DELIVERED
    )  # each delivered message arrived exactly once, and nothing else did
    assert all(final[m.pk].claimed_until is None for m in messages)


def test_reply_to_is_the_per_message_address_on_the_store_reply_domain(
    scenario: Scenario, clock: VirtualClock
) -> None:
    scenario.store.reply_to = "help@shop.example.com"
    scenario.store.save()
    plain = scenario.message("thank-you", now=clock.now())
    handler = RefusingHandler(pipelining=True)
    with serving(handler) as port:
        send_queued_messages(now=clock.now(), connection=smtp_transport(port))
        scenario.store.reply_domain = "reply.shop.example.com"
        scenario.store.save()
        matched = scenario.message("thank-you", now=clock.now())
        send_queued_messages(now=clock.now(), connection=smtp_transport(port))
    first, second = _received(handler)
    assert first["Reply-To"] == "help@shop.example.com" and plain.pk
    assert str(second["Reply-To"]).endswith("@reply.shop.example.com")
    assert message_id_from_reply_address(str(second["Reply-To"])) == matched.pk


def test_the_list_unsubscribe_mailto_is_the_messages_own_address_on_the_reply_domain(
    scenario: Scenario, clock: VirtualClock
) -> None:
    scenario.store.reply_to = "help@shop.example.com"
    scenario.store.reply_domain = "reply.shop.example.com"
    scenario.store.save()
    message = scenario.message("cross-sell-offer", now=clock.now())
    handler = RefusingHandler(pipelining=True)
    with serving(handler) as port:
        send_queued_messages(now=clock.now(), connection=smtp_transport(port))
    (received,) = _received(handler)

    https, mailto = (t.strip().strip("<>") for t in str(received["List-Unsubscribe"]).split(","))
    address, _, query = mailto.removeprefix("mailto:").partition("?")
    assert https.endswith("/") and query == "subject=unsubscribe"
    assert address.endswith("@reply.shop.example.com")  # Aftersale's, not the merchant's
    assert message_id_from_unsubscribe_address(address) == message.pk
    assert message_id_from_reply_address(address) is None


def test_a_message_whose_claim_was_taken_over_while_sending_is_left_to_its_new_owner(
    scenario: Scenario, clock: VirtualClock
) -> None:
    message = scenario.message("thank-you", now=clock.now())

    class SlowTransport(Transport[OutgoingEmail, None]):
        """Our claim expires while the relay takes its time; another worker claims."""

        def build(self, email: OutgoingEmail) -> OutgoingEmail:
            return email

        def post(
            self, payloads: Payloads[OutgoingEmail], *, on_reply: Callable[[int, None], None]
        ) -> None:
            Message.objects.filter(pk=message.pk).update(claimed_by="other-worker")
            for position, _ in enumerate(payloads):
                on_reply(position, None)

        def classify(self, raw: None) -> SendResult:
            return SendResult(Outcome.ACCEPTED)

    summary = send_queued_messages(now=clock.now(), connection=SlowTransport())
    assert summary.total == 1
    message.refresh_from_db()
    assert message.status == MessageStatus.QUEUED and message.claimed_by == "other-worker"
    assert message.claimed_until is not None  # its claim, untouched


def test_through_an_email_service_the_esp_message_id_is_recorded_and_the_message_is_sent(
    scenario: Scenario, clock: VirtualClock
) -> None:
    accepted = scenario.message("thank-you", now=clock.now())
    refused = _message_to(scenario, "bounce@example.org", now=clock.now())
    transport = AnymailTransport(ScriptedEsp(ignore_recipient_status=True))  # type: ignore[no-untyped-call]
    summary = send_queued_messages(now=clock.now(), connection=transport)
    assert (summary.sent, summary.bounced) == (1, 1)
    accepted.refresh_from_db()
    refused.refresh_from_db()
    assert accepted.status == MessageStatus.SENT and accepted.delivered_at is None
    assert accepted.esp_message_id == f"esp-{scenario.customer.email}"
    assert refused.status == MessageStatus.BOUNCED and "rejected" in refused.error


def test_a_test_email_is_marked_and_sent_without_recording_anything(
    scenario: Scenario, clock: VirtualClock
) -> None:
    handler = RefusingHandler()
    with serving(handler) as port:
        result = send_test_email(
            template=scenario.templates["cross-sell-offer"],
            customer=scenario.customer,
            to="merchant@shop.example.com",
            now=clock.now(),
            transport=smtp_transport(port),
        )
    assert result.outcome is Outcome.ACCEPTED
    (received,) = _received(handler)
    assert received["To"] == "merchant@shop.example.com"
    assert str(received["Subject"]).startswith("[Test] ")
    assert received["List-Unsubscribe"] is None and received["X-Aftersale-Message"] is None
    assert not Message.objects.exists()


# --- queuing and reports ---------------------------------------------------------------


def test_queuing_the_same_decision_twice_adds_one_email(
    scenario: Scenario, clock: VirtualClock
) -> None:
    fields = {
        "idempotency_key": "e1:v1:s0",
        "customer": scenario.customer,
        "template_slug": "thank-you",
        "now": clock.now(),
        "order_id": scenario.order.pk,
        "campaign": "post-purchase-upsell",
    }
    assert queue_message(**fields) is True  # type: ignore[arg-type]
    assert queue_message(**fields) is False  # type: ignore[arg-type]

    (message,) = Message.objects.filter(idempotency_key="e1:v1:s0")
    assert (message.status, message.order_id, message.campaign, message.send_after) == (
        MessageStatus.QUEUED,
        scenario.order.pk,
        "post-purchase-upsell",
        clock.now(),
    )


def test_an_email_decided_against_is_recorded_skipped_with_the_reason(
    scenario: Scenario, clock: VirtualClock
) -> None:
    added = queue_message(
        idempotency_key="e1:v1:s2",
        customer=scenario.customer,
        template_slug="thank-you",
        now=clock.now(),
        skip_reason=SkipReason.SMART_SENDING,
        skipped_because="smart sending: got an email at 09:00",
    )

    assert added is False
    message = Message.objects.get(idempotency_key="e1:v1:s2")
    assert (message.status, message.skip_reason, message.error) == (
        "skipped",
        "smart_sending",
        "smart sending: got an email at 09:00",
    )


def test_an_email_quiet_hours_moved_is_queued_with_that_reason_not_skipped(
    scenario: Scenario, clock: VirtualClock
) -> None:
    later = clock.now() + dt.timedelta(hours=9)
    added = queue_message(
        idempotency_key="e1:v1:s3",
        customer=scenario.customer,
        template_slug="thank-you",
        now=clock.now(),
        send_after=later,
        skip_reason=SkipReason.QUIET_HOURS_MOVED,
    )

    assert added is True
    message = Message.objects.get(idempotency_key="e1:v1:s3")
    assert (message.status, message.skip_reason, message.send_after) == (
        "queued",
        "quiet_hours_moved",
        later,
    )


@pytest.mark.parametrize("why", ["unsubscribed", "hard_bounce"])
def test_a_suppressed_address_is_skipped_at_send_time_as_suppressed(
    store: Store, clock: VirtualClock, tmp_path: Path, why: str
) -> None:
    scenario = make_scenario(store, now=clock.now())
    marketing = scenario.message("cross-sell-offer", now=clock.now())
    suppress(
        store_id=store.pk,
        email=scenario.customer.email,
        reason=SuppressionReason(why),
        now=clock.now(),
    )
    with CaptureServer(tmp_path) as server:
        summary = send_queued_messages(now=clock.now(), connection=smtp_connection(server.port))
    assert summary.skipped == 1
    marketing.refresh_from_db()
    assert (marketing.status, marketing.skip_reason, marketing.error) == (
        MessageStatus.SKIPPED,
        SkipReason.SUPPRESSED,
        f"address suppressed: {why}",
    )


def test_an_email_whose_address_was_erased_is_skipped_as_missing_address(
    scenario: Scenario, clock: VirtualClock, tmp_path: Path
) -> None:
    receipt = scenario.message("order-confirmation", now=clock.now())
    Message.objects.filter(pk=receipt.pk).update(to_email="")  # as erase_recipient leaves it
    with CaptureServer(tmp_path) as server:
        summary = send_queued_messages(now=clock.now(), connection=smtp_connection(server.port))
    assert (summary.skipped, server.messages()) == (1, [])
    receipt.refresh_from_db()
    assert (receipt.status, receipt.skip_reason) == (
        MessageStatus.SKIPPED,
        SkipReason.MISSING_ADDRESS,
    )


def test_queuing_a_template_the_store_does_not_have_is_refused(
    scenario: Scenario, clock: VirtualClock
) -> None:
    with pytest.raises(EmailTemplate.DoesNotExist):
        queue_message(
            idempotency_key="k",
            customer=scenario.customer,
            template_slug="no-such-template",
            now=clock.now(),
        )
    assert not Message.objects.filter(idempotency_key="k").exists()


def test_a_report_on_a_message_still_queued_changes_nothing(
    scenario: Scenario, clock: VirtualClock
) -> None:
    message = scenario.message("thank-you", now=clock.now())

    outcome = report_status(
        message=message, status=MessageStatus.DELIVERED, delivered_at=clock.now()
    )

    assert outcome == "refused: queued -> delivered"
    message.refresh_from_db()
    assert (message.status, message.delivered_at) == ("queued", None)
