"""The shape every transport has (after django-anymail's backends): `send` runs a fixed
sequence for a batch of emails -- build each into the transport's payload, send the
payloads, classify each raw result into one normalized `Outcome` -- and a transport fills
in those three steps. What differs between transports as data (which replies or errors
mean what) lives in class-level dicts, not in code."""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import ClassVar, Generic, TypeVar

from aftersale.messaging.mime import Email
from aftersale.messaging.models import MessageStatus

PayloadT = TypeVar("PayloadT")
RawT = TypeVar("RawT")


class Outcome(enum.StrEnum):
    """What became of one email, whatever the transport."""

    ACCEPTED = "accepted"  # the relay or the email service took it
    REJECTED = "rejected"  # refused for good because of the address: a hard bounce
    DEFERRED = "deferred"  # refused for now, or the connection broke: try again later
    FAILED = "failed"  # cannot be sent and retrying will not help (not the address's fault)
    UNREACHABLE = "unreachable"  # no connection at all: not attempted, nothing to count


@dataclass(frozen=True)
class SendResult:
    """One email's outcome, what the other side said (for Message.error) and the id an
    email service gave it."""

    outcome: Outcome
    detail: str = ""
    provider_id: str = ""


@dataclass(frozen=True)
class OutgoingEmail:
    """One email ready to go: the message row it is for, and what it says."""

    message_pk: int
    email: Email


class Transport(ABC, Generic[PayloadT, RawT]):
    """Sends batches of emails; subclasses fill in `build`, `post` and `classify`.

    `send` promises one SendResult per email, in order, whatever goes wrong: a problem
    with one email never takes the others down, and an email whose fate is unknown (the
    connection broke after it was handed over) comes back DEFERRED, never ACCEPTED."""

    # The message status an ACCEPTED email gets: a relay's 250 is as far as SMTP can
    # see (delivered), an email service reports delivery later through its webhooks.
    accepted_status: ClassVar[MessageStatus] = MessageStatus.DELIVERED
    # Which exceptions raised by `build` or `post` mean which outcome (most specific
    # class first wins; anything else is DEFERRED, so an unknown error never bounces).
    outcome_by_error: ClassVar[dict[type[BaseException], Outcome]] = {}

    def send(
        self,
        emails: Sequence[OutgoingEmail],
        *,
        on_result: Callable[[int, SendResult], None] | None = None,
    ) -> list[SendResult]:
        """Build, send and classify `emails`; one result each, in order. `on_result`
        hears of each email (by its index) as soon as its fate is known, before the next
        email can be accepted, so the caller can record an accepted email while at most
        that one is accepted and not yet recorded."""
        results: list[SendResult | None] = [None] * len(emails)
        payloads: list[tuple[int, PayloadT]] = []

        def settle(index: int, result: SendResult) -> None:
            results[index] = result
            if on_result is not None:
                on_result(index, result)

        for index, email in enumerate(emails):
            try:
                payloads.append((index, self.build(email)))
            except Exception as exc:  # one bad email (say an injected address) fails alone
                settle(index, self.classify_error(exc))
        self.post(
            [payload for _, payload in payloads],
            on_reply=lambda position, raw: settle(payloads[position][0], self.classify(raw)),
        )
        return [result for result in results if result is not None]

    @abstractmethod
    def build(self, email: OutgoingEmail) -> PayloadT:
        """The transport's payload for `email`; may raise (classified by error)."""

    @abstractmethod
    def post(self, payloads: list[PayloadT], *, on_reply: Callable[[int, RawT], None]) -> None:
        """Hand the payloads over, calling `on_reply(position, raw result)` exactly once
        for each, in order, as soon as it is known; never raising."""

    @abstractmethod
    def classify(self, raw: RawT) -> SendResult:
        """The normalized result for one raw result."""

    def classify_error(self, exc: BaseException) -> SendResult:
        """The result for an email whose build or send raised `exc`."""
        for kind in type(exc).__mro__:
            if kind in self.outcome_by_error:
                return SendResult(self.outcome_by_error[kind], detail=describe(exc))
        return SendResult(Outcome.DEFERRED, detail=describe(exc))

    def close(self) -> None:
        """Let go of any open connection; the next `send` opens a new one."""


def describe(exc: BaseException) -> str:
    """`exc` in a line for Message.error."""
    return f"{type(exc).__name__}: {exc}"
