"""A local SMTP server that keeps every email it receives as a .eml file: the demo and
the tests send to it instead of the outside world."""

from __future__ import annotations

import itertools
import signal
import subprocess
import sys
import threading
from pathlib import Path
from types import TracebackType
from typing import Any

from aiosmtpd.controller import Controller


class LocalSmtpController(Controller):
    """aiosmtpd's threaded Controller that may listen on port 0 (any free port): the
    real port is read back from the bound socket before the readiness check."""

    def _trigger_server(self) -> None:
        sockets = getattr(self.server, "sockets", None)
        if self.port == 0 and sockets:
            self.port = sockets[0].getsockname()[1]
        super()._trigger_server()


class _CaptureHandler:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.count = 0
        # Continue after files already there, so a reused directory loses nothing.
        self._numbers = itertools.count(len(list(directory.glob("*.eml"))) + 1)
        self._lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self._lock:
            number = next(self._numbers)
        content = envelope.original_content or envelope.content
        data = content if isinstance(content, bytes) else content.encode()
        (self.directory / f"{number:06d}.eml").write_bytes(data)
        with self._lock:
            self.count += 1
        return "250 Message accepted for delivery"


class CaptureServer:
    """`with CaptureServer(directory) as server:` runs an SMTP server on `server.port`
    that writes each received message to `directory` as one .eml file (numbered in
    arrival order); `server.count` is how many it has received."""

    def __init__(self, directory: Path, host: str = "127.0.0.1", port: int = 0) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        self.host = host
        self._handler = _CaptureHandler(directory)
        self._controller = LocalSmtpController(self._handler, hostname=host, port=port)

    @property
    def port(self) -> int:
        """The port the server listens on (the real one when asked for port 0)."""
        return int(self._controller.port)

    @property
    def count(self) -> int:
        """How many messages the server has received so far."""
        return self._handler.count

    def messages(self) -> list[Path]:
        """The .eml files received so far, in arrival order."""
        return sorted(self.directory.glob("*.eml"))

    def start(self) -> CaptureServer:
        """Start listening; returns self."""
        self._controller.start()
        return self

    def stop(self) -> None:
        """Stop listening."""
        self._controller.stop()

    def __enter__(self) -> CaptureServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class CaptureProcess:
    """A CaptureServer in a child process of its own, so that receiving and writing
    messages does not compete with the sender for this process's interpreter (the demo
    uses it; it behaves like a mail server on the same machine)."""

    def __init__(self, directory: Path, host: str = "127.0.0.1") -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.directory, self.host, self.port = directory, host, 0
        self._process: subprocess.Popen[str] | None = None

    @property
    def count(self) -> int:
        """How many messages have been written so far."""
        return len(self.messages())

    def messages(self) -> list[Path]:
        """The .eml files received so far, in arrival order."""
        return sorted(self.directory.glob("*.eml"))

    def __enter__(self) -> CaptureProcess:
        self._process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "aftersale.messaging.delivery.capture",
                str(self.directory),
                self.host,
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self._process.stdout is not None
        line = self._process.stdout.readline()
        if not line.strip().isdigit():
            self._process.kill()
            raise RuntimeError(f"the capture server did not start: {line!r}")
        self.port = int(line)
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=10)


def _serve_until_stopped(directory: Path, host: str) -> None:
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    with CaptureServer(directory, host=host) as server:
        print(server.port, flush=True)
        stopped.wait()


if __name__ == "__main__":
    _serve_until_stopped(Path(sys.argv[1]), sys.argv[2])
