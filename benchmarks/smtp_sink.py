"""A fast SMTP server on 127.0.0.1 for the sending benchmarks: Postfix's smtp-sink
(scripts/smtp-sink installs it when missing), else an aiosmtpd sink."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parent.parent


class Sink(NamedTuple):
    """A running sink: where it listens, what it is, and its process (for CPU figures)."""

    port: int
    name: str
    pid: int


@contextmanager
def smtp_sink() -> Iterator[Sink]:
    """A fast SMTP server on 127.0.0.1 that accepts and discards everything."""
    port = _free_port()
    found = subprocess.run([ROOT / "scripts" / "smtp-sink"], capture_output=True, text=True)
    if found.returncode == 0:
        user = ["-u", "nobody"] if os.geteuid() == 0 else []  # it refuses to run as root
        command = [found.stdout.strip(), *user, f"127.0.0.1:{port}", "256"]
        name = "Postfix smtp-sink"
    else:
        print(
            f"smtp-sink unavailable ({found.stderr.strip()}); using an aiosmtpd sink, "
            "which is slower: the raw rate is the sink's limit",
            file=sys.stderr,
        )
        command = [sys.executable, "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{port}",
                   "-c", "aiosmtpd.handlers.Sink"]  # fmt: skip
        name = "an aiosmtpd sink"
    process = subprocess.Popen(command)
    try:
        _wait_for(port)
        yield Sink(port, name, process.pid)
    finally:
        process.terminate()
        process.wait(timeout=10)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_for(port: int) -> None:
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
