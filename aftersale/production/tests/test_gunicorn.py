"""The web process of production mode is gunicorn on aftersale.wsgi: it starts, answers
the probes and stops on SIGTERM."""

import json
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from aftersale.worker.tests.crash_scenario import child_env, free_port, scenario_database


def test_gunicorn_serves_aftersale_wsgi_and_its_probes(tmp_path: Path) -> None:
    with scenario_database(tmp_path / "home") as database:
        port = free_port()
        server = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "aftersale.wsgi", "--bind", f"127.0.0.1:{port}"],
            env=child_env(database),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        try:
            ready = _get_when_up(f"http://127.0.0.1:{port}/readyz", server)
            alive = _get_when_up(f"http://127.0.0.1:{port}/healthz", server)
        finally:
            server.send_signal(signal.SIGTERM)
            output, _ = server.communicate(timeout=60)
    assert alive == {"status": "alive"}
    assert ready["status"] == "ready", output.decode()
    assert server.returncode == 0


def _get_when_up(url: str, server: subprocess.Popen[bytes]) -> dict[str, object]:
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(url, timeout=10) as reply:
                return json.loads(reply.read())
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            # Refused, or accepted by gunicorn's socket before its worker has loaded the
            # app (a slow start on a loaded machine): still starting, until the deadline.
            if server.poll() is not None or time.monotonic() > deadline:
                raise
            time.sleep(0.1)  # gunicorn still starting
