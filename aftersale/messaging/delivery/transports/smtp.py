"""SMTP to a relay, with the small client it needs on a plain socket: smtplib waits for
every reply before the next command, this one pipelines (RFC 2920) when the server
offers PIPELINING. Each round trip carries the previous email's content and end-of-data
together with the next email's MAIL FROM, RCPT TO and DATA, so a batch costs about one
round trip per email over one reused connection. TLS from the first byte (SMTPS) or
STARTTLS, and AUTH PLAIN or LOGIN."""

from __future__ import annotations

import base64
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar, Literal

from django.conf import settings
from django.core.mail.utils import DNS_NAME

from aftersale.messaging import mime
from aftersale.messaging.delivery.transports.base import (
    Outcome,
    OutgoingEmail,
    Payloads,
    SendResult,
    Transport,
    describe,
)

Security = Literal["none", "starttls", "tls"]
_SEND_BUFFER = 1 << 20  # bytes; the kernel may cap it (net.core.wmem_max)
# Reconnections one `send` makes after the server dropped the connection mid-batch.
_MAX_RECONNECTS = 3


@dataclass(frozen=True)
class Reply:
    """A server reply, the command it answered, or a broken connection (code 0: the
    email was handed over but its fate is unknown) or a server that cannot be used at
    all (code -1: no connection, or it refused us or our sender)."""

    code: int
    text: str
    stage: str = ""

    def __str__(self) -> str:
        return f"{self.code} {self.text}" if self.code > 0 else self.text


def _lost(why: str) -> Reply:
    return Reply(0, f"connection lost after the email was handed over: {why}")


def _unusable(why: str) -> Reply:
    return Reply(-1, f"cannot use the mail server: {why}")


class _Replies:
    """The reply for each payload taken, passed on the moment it is known."""

    def __init__(self, payloads: Payloads[_Envelope], on_reply: Callable[[int, Reply], None]):
        self._payloads = payloads
        self._settled: set[int] = set()
        self._on_reply = on_reply

    def settle(self, position: int, reply: Reply) -> None:
        self._settled.add(position)
        self._on_reply(position, reply)

    def settle_taken(self, start: int, reply: Reply) -> None:
        """Give `reply` to every payload taken from `start` on that has none yet."""
        for position in range(start, self._payloads.taken()):
            if position not in self._settled:
                self.settle(position, reply)


@dataclass(frozen=True)
class _Envelope:
    sender: str
    recipient: str
    data: bytes  # the message (no line starts with "."), ending with CRLF; no end of data


class SmtpSetupError(Exception):
    """The server could be reached but not used: refused greeting, EHLO, STARTTLS or
    AUTH."""


class _SenderRefused(Exception):
    """The server answered MAIL FROM with `reply` (not 250) for the payload at `position`:
    it will not take our sender, whichever the email (a relay misconfiguration)."""

    def __init__(self, position: int, reply: Reply) -> None:
        super().__init__(str(reply))
        self.position, self.reply = position, reply


class _Dropped(Exception):
    """The connection broke (or the server said 421) in the middle of an exchange;
    `replies` are those read before it did."""

    def __init__(self, why: str, replies: list[Reply] | None = None) -> None:
        super().__init__(why)
        self.replies = replies or []


class _Connection:
    """One SMTP session: greeting, EHLO, STARTTLS or TLS, AUTH; then exchanges of
    command groups, written at once when the server pipelines."""

    def __init__(self, transport: SmtpTransport) -> None:
        self.transport = transport
        sock = socket.create_connection((transport.host, transport.port), transport.timeout)
        try:
            if transport.security == "tls":
                sock = transport.ssl_context.wrap_socket(sock, server_hostname=transport.host)
            self._use(sock)
            self._expect(self._read(), 220, "greeting")
            extensions = self._ehlo()
            if transport.security == "starttls":
                extensions = self._starttls(extensions)
            if transport.username:
                self._authenticate(extensions)
        except BaseException:
            sock.close()
            raise
        self.pipelining = "PIPELINING" in extensions
        # An email's content is written but not its end of data: the relay reads
        # whatever comes next as content, so the session can only be dropped.
        self.mid_data = False

    def _use(self, sock: socket.socket) -> None:
        # Each write is a whole pipelined group, answered only once all of it is in:
        # its last segment must go at once, not wait for an acknowledgement (Nagle).
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        # Room for a whole email and more in the kernel: writing it returns at once and
        # the next email is built while the relay reads, instead of waiting for the
        # relay to take in all but the last few kilobytes.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, _SEND_BUFFER)
        self.sock = sock
        self.reader = sock.makefile("rb")

    def _ehlo(self) -> dict[str, str]:
        self.sock.sendall(f"EHLO {self.transport.local_hostname}\r\n".encode())
        reply = self._expect(self._read(), 250, "EHLO")
        keywords = {}
        for line in reply.text.splitlines()[1:]:
            keyword, _, params = line.partition(" ")
            keywords[keyword.upper()] = params
        return keywords

    def _starttls(self, extensions: dict[str, str]) -> dict[str, str]:
        if "STARTTLS" not in extensions:
            raise SmtpSetupError("the server does not offer STARTTLS")
        self.sock.sendall(b"STARTTLS\r\n")
        self._expect(self._read(), 220, "STARTTLS")
        self._use(
            self.transport.ssl_context.wrap_socket(self.sock, server_hostname=self.transport.host)
        )
        return self._ehlo()  # what the server offers may change once encrypted

    def _authenticate(self, extensions: dict[str, str]) -> None:
        mechanisms = extensions.get("AUTH", "").upper().split()
        user, password = self.transport.username, self.transport.password
        if "PLAIN" in mechanisms:
            token = base64.b64encode(f"\0{user}\0{password}".encode()).decode()
            self.sock.sendall(f"AUTH PLAIN {token}\r\n".encode())
        elif "LOGIN" in mechanisms:
            self.sock.sendall(b"AUTH LOGIN\r\n")
            self._expect(self._read(), 334, "AUTH LOGIN")
            self.sock.sendall(base64.b64encode(user.encode()) + b"\r\n")
            self._expect(self._read(), 334, "AUTH LOGIN")
            self.sock.sendall(base64.b64encode(password.encode()) + b"\r\n")
        else:
            raise SmtpSetupError(f"the server offers no AUTH PLAIN or LOGIN: {mechanisms}")
        self._expect(self._read(), 235, "AUTH")

    def _expect(self, reply: Reply, code: int, stage: str) -> Reply:
        if reply.code != code:
            raise SmtpSetupError(f"{stage} refused: {reply}")
        return reply

    def _read(self, stage: str = "") -> Reply:
        lines = []
        while True:
            line = self.reader.readline(8192)
            if not line.endswith(b"\n"):
                raise _Dropped("the server closed the connection")
            lines.append(line[4:].rstrip(b"\r\n").decode(errors="replace"))
            if line[3:4] != b"-":  # "250-..." continues, "250 ..." ends the reply
                return Reply(int(line[:3]), "\n".join(lines), stage)

    def exchange(self, commands: list[tuple[str, bytes]]) -> list[Reply]:
        """Send (stage, command) pairs and return their replies in order. When the
        server pipelines, the commands are written at once, then the replies are read;
        else each command waits for its reply. When the connection breaks or the server
        says 421 (closing), the replies stop there: the list is shorter."""
        replies: list[Reply] = []
        self.mid_data = False  # the first command, if any, is the end of data
        try:
            if self.pipelining:
                self.sock.sendall(b"".join(command for _, command in commands))
                for stage, _ in commands:
                    self._reply(stage, replies)
            else:
                for stage, command in commands:
                    self.sock.sendall(command)
                    self._reply(stage, replies)
        except (_Dropped, OSError) as exc:
            self.close()
            raise _Dropped(str(exc), replies) from exc
        return replies

    def write(self, data: bytes) -> None:
        """Write `data`, which gets no reply (an email's content before its end of
        data); _Dropped when the connection breaks."""
        self.mid_data = True
        try:
            self.sock.sendall(data)
        except OSError as exc:
            self.close()
            raise _Dropped(str(exc)) from exc

    def _reply(self, stage: str, replies: list[Reply]) -> None:
        reply = self._read(stage)
        replies.append(reply)
        if reply.code == 421:  # the server is closing the connection
            raise _Dropped(str(reply))

    def quit(self) -> None:
        try:
            self.sock.sendall(b"QUIT\r\n")
            self._read()
        except (_Dropped, OSError):
            pass
        self.close()

    def close(self) -> None:
        self.reader.close()
        self.sock.close()


class SmtpTransport(Transport[_Envelope, Reply]):
    """Emails to one SMTP relay over one reused connection, reopened when it drops."""

    # A reply's first digit says what it means. Any refusal of MAIL FROM never gets
    # here: the server refuses our sender, not an email, so the batch stops UNAVAILABLE.
    outcome_by_code_class: ClassVar[dict[int, Outcome]] = {
        2: Outcome.ACCEPTED,
        4: Outcome.DEFERRED,
        5: Outcome.REJECTED,
    }
    # mime refuses bad addresses and header names with ValueError (mime.AddressError).
    outcome_by_error: ClassVar[dict[type[BaseException], Outcome]] = {ValueError: Outcome.FAILED}

    def __init__(
        self,
        *,
        host: str,
        port: int,
        security: Security = "none",
        username: str = "",
        password: str = "",
        timeout: float = 30,
        ssl_context: ssl.SSLContext | None = None,
        local_hostname: str = "",
    ) -> None:
        self.host, self.port, self.security = host, port, security
        self.username, self.password, self.timeout = username, password, timeout
        self.ssl_context = ssl_context or ssl.create_default_context()
        self.local_hostname = local_hostname or str(DNS_NAME)  # looked up once, cached
        self._connection: _Connection | None = None

    @classmethod
    def from_settings(cls) -> SmtpTransport:
        """The relay Django's EMAIL_* settings (AFTERSALE_SMTP_*) name."""
        security: Security = "tls" if settings.EMAIL_USE_SSL else "none"
        if settings.EMAIL_USE_TLS:
            security = "starttls"
        return cls(
            host=settings.EMAIL_HOST,
            port=settings.EMAIL_PORT,
            security=security,
            username=settings.EMAIL_HOST_USER,
            password=settings.EMAIL_HOST_PASSWORD,
            timeout=settings.EMAIL_TIMEOUT or 30,
        )

    def build(self, email: OutgoingEmail) -> _Envelope:
        # mime.render starts no line with ".": nothing to dot-stuff (RFC 5321 4.5.2),
        # which spares a search through every email's 40 KB.
        return _Envelope(
            sender=mime.checked_address(email.email.from_address),
            recipient=mime.checked_address(email.email.to),
            data=mime.render(email.email),
        )

    def post(
        self, payloads: Payloads[_Envelope], *, on_reply: Callable[[int, Reply], None]
    ) -> None:
        self.post_recorded(payloads, on_reply=on_reply, recorded=lambda: None)

    def post_recorded(
        self,
        payloads: Payloads[_Envelope],
        *,
        on_reply: Callable[[int, Reply], None],
        recorded: Callable[[], None],
    ) -> None:
        if self._connection is not None and self._connection.mid_data:
            self.close()  # an earlier send stopped half-way through an email
        results = _Replies(payloads, on_reply)
        position, reconnects = 0, 0
        # The next email is built before connecting, so a relay that cannot be reached
        # has one email to fail (and the rest of the batch is not built for nothing).
        while payloads.get(position) is not None:
            if self._connection is None:
                if reconnects > _MAX_RECONNECTS:
                    results.settle_taken(position, _lost("the server kept dropping the connection"))
                    break
                reconnects += 1
                try:
                    self._connection = _Connection(self)
                except (OSError, SmtpSetupError, _Dropped) as exc:
                    results.settle_taken(position, _unusable(describe(exc)))
                    break
            try:
                position = self._transfer(self._connection, payloads, position, results, recorded)
            except _SenderRefused as refused:
                sender = payloads.get(refused.position)
                assert sender is not None  # its MAIL FROM was written, so it was built
                why = f"MAIL FROM:<{sender.sender}> refused: {refused.reply}"
                results.settle_taken(refused.position, _unusable(why))
                self.close()
                break
        results.settle_taken(0, _lost("no reply"))

    def _transfer(
        self,
        connection: _Connection,
        payloads: Payloads[_Envelope],
        start: int,
        results: _Replies,
        recorded: Callable[[], None],
    ) -> int:
        """Send payloads from `start` on over `connection`, filling `results`; return
        the position after the last payload when done, else (the connection broke) the
        position of the first email not yet handed over, which may safely go again over
        a new connection.

        Once DATA gets its 354 the email's content is written at once, all but its end
        of data, and the next email is built while the relay reads it (and the caller
        records the email before). Then, once `recorded()` returns, one exchange
        writes the end of data with the next email's MAIL, RCPT and DATA. The relay can
        accept an email only at its end of data, which goes only after the previous
        email is recorded: at most one email is accepted and not yet recorded."""
        pending: int | None = None  # the email whose content is written but its end
        position, reset, broken = start, False, False
        while pending is not None or payloads.get(position) is not None:
            commands = []
            if pending is not None:
                recorded()
                commands.append(("DATA END", b".\r\n"))
            envelope = payloads.get(position)
            if envelope is not None:
                if reset:  # the last transaction failed half-way: start clean
                    commands.append(("RSET", b"RSET\r\n"))
                commands += [
                    ("MAIL", f"MAIL FROM:<{envelope.sender}>\r\n".encode()),
                    ("RCPT", f"RCPT TO:<{envelope.recipient}>\r\n".encode()),
                    ("DATA", b"DATA\r\n"),
                ]
            try:
                replies, broken = connection.exchange(commands), False
            except _Dropped as dropped:
                replies, broken = dropped.replies, True
            if pending is not None:
                results.settle(
                    pending, replies.pop(0) if replies else _lost("no reply to the content")
                )
                pending = None
            if envelope is None:
                break
            if reset and replies:
                replies.pop(0)  # RSET's 250
            outcome = self._envelope_replies(connection, replies, broken=broken)
            if isinstance(outcome, Reply) and outcome.stage == "MAIL":
                raise _SenderRefused(position, outcome)
            if outcome == "not sent":
                break
            if outcome == "content next":
                try:
                    connection.write(envelope.data)
                except _Dropped:
                    # No end of data went: the relay did not take it, it may go again.
                    broken = True
                    break
                pending = position
                payloads.get(position + 1)  # built while the relay reads the content
            else:
                results.settle(position, outcome)
            reset = not isinstance(outcome, str)
            position += 1
            if broken:
                break
        if broken:
            self._connection = None
        return position if broken else payloads.taken()

    def _envelope_replies(
        self, connection: _Connection, replies: list[Reply], *, broken: bool
    ) -> Reply | Literal["not sent", "content next"]:
        """What the replies to MAIL, RCPT and DATA mean: the email's failure reply,
        "content next" (DATA got 354), or "not sent" (no reply to learn from)."""
        failure = next((r for r in replies[:2] if r.code // 100 != 2), None)
        if len(replies) < 3:
            return failure or "not sent"
        data = replies[2]
        if data.code != 354:
            return failure or data
        if failure is not None:  # DATA accepted though RCPT was not: send an empty body
            try:
                connection.exchange([("DATA END", b".\r\n")])
            except _Dropped:
                self._connection = None
            return failure
        return "content next"

    def classify(self, raw: Reply) -> SendResult:
        if raw.code == -1:
            return SendResult(Outcome.UNAVAILABLE, detail=raw.text)
        if raw.code == 0:
            return SendResult(Outcome.DEFERRED, detail=raw.text)
        outcome = self.outcome_by_code_class.get(raw.code // 100, Outcome.DEFERRED)
        detail = "" if outcome is Outcome.ACCEPTED else f"{raw.stage}: {raw}"
        return SendResult(outcome, detail=detail)

    def close(self) -> None:
        if self._connection is not None:
            if self._connection.mid_data:
                # Stopped between an email's content and its end of data (the caller's
                # record failed, say): QUIT would be read as content. Dropping the
                # connection makes the relay discard that email, never deliver it.
                self._connection.close()
            else:
                self._connection.quit()
            self._connection = None
