"""Real SMTP servers (aiosmtpd on 127.0.0.1) that answer the way the tests need, and a
stand-in for an email service behind anymail."""

from __future__ import annotations

import ssl
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import AuthResult, LoginPassword
from anymail.backends.test import EmailBackend as AnymailTestBackend
from anymail.exceptions import AnymailAPIError
from anymail.message import AnymailRecipientStatus
from django.core.mail import get_connection
from django.core.mail.backends.base import BaseEmailBackend

from aftersale.messaging.delivery.capture import LocalSmtpController
from aftersale.messaging.delivery.transports.smtp import Security, SmtpTransport


class RefusingHandler:
    """Answers RCPT with `reply` for the first `times` recipients, then accepts; records
    each accepted message with the peer (so: the connection) it came over. With
    `pipelining`, offers PIPELINING (aiosmtpd reads pipelined commands in order anyway)
    and notes, for each MAIL, whether its RCPT had already arrived with it."""

    def __init__(self, reply: str = "", times: int = 0, *, pipelining: bool = False) -> None:
        self.reply, self.remaining, self.pipelining = reply, times, pipelining
        self.received: list[tuple[Any, bytes]] = []
        self.rcpt_arrived_with_mail: list[bool] = []

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        session.host_name = hostname
        if self.pipelining:
            responses.insert(-1, "250-PIPELINING")
        return responses

    async def handle_MAIL(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        # asyncio's StreamReader keeps what arrived but was not read yet in _buffer.
        self.rcpt_arrived_with_mail.append(b"RCPT TO" in bytes(server._reader._buffer))
        envelope.mail_from = address
        return "250 OK"

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if self.remaining > 0:
            self.remaining -= 1
            return self.reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.received.append((session.peer, envelope.content))
        return "250 OK"

    def recipients(self) -> list[str]:
        """The To header of every message received, in arrival order."""
        return [_to_header(content) for _, content in self.received]


class SenderRefusingHandler(RefusingHandler):
    """Answers MAIL FROM with `reply` for the first `times` senders (a relay that does
    not take our sender until its operator fixes it), noting each one refused; then
    answers like RefusingHandler."""

    def __init__(self, reply: str, times: int, **options: Any) -> None:
        super().__init__(**options)
        self.sender_reply, self.senders_left = reply, times
        self.refused_senders: list[str] = []

    async def handle_MAIL(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if self.senders_left > 0:
            self.senders_left -= 1
            self.refused_senders.append(address)
            return self.sender_reply
        return await super().handle_MAIL(server, session, envelope, address, options)


class DroppingHandler(RefusingHandler):
    """Takes the content of the first `times` messages, then closes the connection
    without answering and without keeping them (a server dying before it took
    responsibility); accepts the rest."""

    def __init__(self, times: int = 1, **options: Any) -> None:
        super().__init__(**options)
        self.drops = times

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.drops > 0:
            self.drops -= 1
            server.transport.close()
            return "250 OK"  # never reaches the client: the connection is gone
        return await super().handle_DATA(server, session, envelope)


class ScriptedEsp(AnymailTestBackend):
    """anymail's test backend answering per recipient the way an ESP would (the
    stand-in for a third-party server): "bounce" addresses rejected, "down" an API
    error, anything else sent with a message id."""

    def post_to_esp(self, payload, message):  # type: ignore[no-untyped-def]
        recipient = message.to[0]
        if recipient.startswith("down"):
            message.anymail_test_response = AnymailAPIError("503 Service Unavailable")
        elif recipient.startswith("bounce"):
            status = AnymailRecipientStatus(message_id=None, status="rejected")
            message.anymail_test_response = {"recipient_status": {recipient: status}}
        else:
            status = AnymailRecipientStatus(message_id=f"esp-{recipient}", status="queued")
            message.anymail_test_response = {"recipient_status": {recipient: status}}
        return super().post_to_esp(payload, message)


@contextmanager
def replaying_http(
    status: int, answer: bytes, content_type: str
) -> Iterator[tuple[str, list[tuple[str, bytes]]]]:
    """An HTTP server on 127.0.0.1 that answers every POST with a recorded response of
    a provider's API (`status`, `answer` of `content_type`); yields its base URL and the
    (path, body) of every POST it received."""
    posts: list[tuple[str, bytes]] = []

    class Replay(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            posts.append((self.path, self.rfile.read(int(self.headers.get("Content-Length", 0)))))
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # the test says what matters

    server = ThreadingHTTPServer(("127.0.0.1", 0), Replay)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/", posts
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _to_header(content: bytes) -> str:
    head = content.split(b"\r\n\r\n", 1)[0].decode()
    return next(line[4:] for line in head.split("\r\n") if line.startswith("To: "))


def authenticator(login: str, password: str) -> Any:
    """An aiosmtpd authenticator that accepts exactly `login` / `password`."""

    def check(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        ok = isinstance(data, LoginPassword) and data == (login.encode(), password.encode())
        return AuthResult(success=ok, handled=False)  # aiosmtpd then answers 535

    return check


@contextmanager
def serving(handler: object, **options: Any) -> Iterator[int]:
    """Run `handler` on a free port of 127.0.0.1 and yield the port; `options` go to
    aiosmtpd (ssl_context, tls_context, authenticator, ...)."""
    controller = LocalSmtpController(handler, hostname="127.0.0.1", port=0, **options)
    controller.start()
    try:
        yield int(controller.port)
    finally:
        controller.stop()


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """A fresh self-signed certificate for 127.0.0.1 and its key, made by the openssl
    command line tool (the cryptography package is not installed)."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    request = (
        "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 "
        "-subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1"
    )
    subprocess.run(
        [*request.split(), "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )
    return cert, key


def server_tls_context(cert: Path, key: Path) -> ssl.SSLContext:
    """What an SMTP server with `cert` encrypts with."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


def smtp_transport(
    port: int, *, security: Security = "none", cafile: Path | None = None, **options: Any
) -> SmtpTransport:
    """Aftersale's SMTP transport to 127.0.0.1:`port`, trusting `cafile` for TLS."""
    context = ssl.create_default_context(cafile=cafile) if cafile else None
    return SmtpTransport(
        host="127.0.0.1",
        port=port,
        security=security,
        ssl_context=context,
        local_hostname="client.test",
        **({"timeout": 5} | options),
    )


def smtp_connection(port: int) -> BaseEmailBackend:
    """A Django SMTP connection to 127.0.0.1:`port`."""
    return get_connection(
        "django.core.mail.backends.smtp.EmailBackend",
        host="127.0.0.1",
        port=port,
        timeout=5,
        use_tls=False,
        use_ssl=False,
        username="",
        password="",
    )
