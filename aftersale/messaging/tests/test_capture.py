"""The local capture server keeps every email it receives as a .eml file."""

from __future__ import annotations

import email
import smtplib
from email import policy
from email.message import EmailMessage
from pathlib import Path

from aftersale.messaging.delivery.capture import CaptureServer


def test_capture_server_writes_each_received_email_as_an_eml_file(tmp_path: Path) -> None:
    with CaptureServer(tmp_path / "outbox") as server:
        assert server.port > 0
        with smtplib.SMTP(server.host, server.port, timeout=5) as client:
            for n in (1, 2):
                note = EmailMessage()
                note["From"], note["To"] = "a@example.org", "b@example.org"
                note["Subject"] = f"#{n}"
                note.set_content("hello")
                client.send_message(note)
        assert server.count == 2
    files = server.messages()
    assert [f.name for f in files] == ["000001.eml", "000002.eml"]
    parsed = email.message_from_bytes(files[1].read_bytes(), policy=policy.default)
    assert parsed["Subject"] == "#2"


def test_a_reused_directory_keeps_earlier_captures(tmp_path: Path) -> None:
    (tmp_path / "000001.eml").write_bytes(b"Subject: old\r\n\r\nold\r\n")
    with CaptureServer(tmp_path) as server, smtplib.SMTP(server.host, server.port) as client:
        client.sendmail("a@example.org", ["b@example.org"], b"Subject: new\r\n\r\nnew\r\n")
    assert (tmp_path / "000001.eml").read_bytes().startswith(b"Subject: old")
    assert (tmp_path / "000002.eml").exists()
