"""The shape every transport has (after django-anymail's backends): `send` runs a fixed
sequence for a batch of emails -- build each into the transport's payload, send the
payloads, classify each raw result into one normalized `Outcome` -- and a transport fills
in those three steps. What differs between transports as data (which replies or errors
mean what) lives in class-level dicts, not in code."""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator
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
    # The server cannot be used now, whichever email: no connection, or it refuses us (the
    # greeting, EHLO, STARTTLS, AUTH, the sender at MAIL FROM; an email service refusing
    # the account). A transport fault: not the email's, nothing counted against it.
    UNAVAILABLE = "unavailable"


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
        emails: Iterable[OutgoingEmail],
        *,
        on_result: Callable[[int, SendResult], None] | None = None,
        recorded: Callable[[], None] | None = None,
    ) -> list[SendResult]:
        """Build, send and classify `emails`; one result each, in order. `on_result`
        hears of each email (by its index) as soon as its fate is known, and may start
        recording it without waiting; `recorded()` returns once what `on_result` started
        is done. It is called before another email can be accepted, so at most one
        email is accepted and not yet recorded at any moment.

        `emails` may be a lazy iterable: each is taken only when the transport is ready
        for it (an SMTP relay takes in the previous one meanwhile), and those after a
        lost connection are not taken at all, so they get no result."""
        results: dict[int, SendResult] = {}
        wait = recorded or _nothing

        def settle(index: int, result: SendResult) -> None:
            results[index] = result
            if on_result is not None:
                on_result(index, result)

        payloads = Payloads(
            emails,
            build=self.build,
            on_error=lambda index, exc: settle(index, self.classify_error(exc)),
        )

        def on_reply(position: int, raw: RawT) -> None:
            settle(payloads.index(position), self.classify(raw))

        self.post_recorded(payloads, on_reply=on_reply, recorded=wait)
        wait()
        return [results[index] for index in sorted(results)]

    @abstractmethod
    def build(self, email: OutgoingEmail) -> PayloadT:
        """The transport's payload for `email`; may raise (classified by error)."""

    @abstractmethod
    def post(self, payloads: Payloads[PayloadT], *, on_reply: Callable[[int, RawT], None]) -> None:
        """Hand the payloads over, calling `on_reply(position, raw result)` exactly once
        for each one taken (`payloads.get` or iteration), in order, as soon as it is
        known; never raising. A transport may stop taking payloads when it cannot go on
        (no connection): those left are not sent."""

    def post_recorded(
        self,
        payloads: Payloads[PayloadT],
        *,
        on_reply: Callable[[int, RawT], None],
        recorded: Callable[[], None],
    ) -> None:
        """`post`, calling `recorded()` (which returns once what the caller started
        recording is done) before the other side can accept another email. By default
        right after each reply; a transport that can do more meanwhile (SMTP writes the
        next email's content) overrides it and calls it as late as that allows."""

        def then_wait(position: int, raw: RawT) -> None:
            on_reply(position, raw)
            recorded()

        self.post(payloads, on_reply=then_wait)

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


class Payloads(Generic[PayloadT]):
    """The payloads of a batch of emails, each built the first time it is asked for;
    an email whose build raises is reported to `on_error` (with its index among the
    emails) and skipped, so positions count only the payloads built."""

    def __init__(
        self,
        emails: Iterable[OutgoingEmail],
        *,
        build: Callable[[OutgoingEmail], PayloadT],
        on_error: Callable[[int, BaseException], None],
    ) -> None:
        self._emails = enumerate(emails)
        self._build, self._on_error = build, on_error
        self._built: list[tuple[int, PayloadT]] = []

    def get(self, position: int) -> PayloadT | None:
        """The payload at `position`, building up to it; None when the emails run out."""
        while len(self._built) <= position:
            taken = next(self._emails, None)
            if taken is None:
                return None
            index, email = taken
            try:
                self._built.append((index, self._build(email)))
            except Exception as exc:  # one bad email (say an injected address) fails alone
                self._on_error(index, exc)
        return self._built[position][1]

    def __iter__(self) -> Iterator[PayloadT]:
        position = 0
        while (payload := self.get(position)) is not None:
            yield payload
            position += 1

    def index(self, position: int) -> int:
        """The index among the emails of the payload at `position`."""
        return self._built[position][0]

    def taken(self) -> int:
        """How many payloads have been built so far."""
        return len(self._built)


def _nothing() -> None:
    pass


def describe(exc: BaseException) -> str:
    """`exc` in a line for Message.error."""
    return f"{type(exc).__name__}: {exc}"
