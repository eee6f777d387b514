"""Telling an open by a person from a fetch of the pixel by a machine: a privacy proxy
that loads every image on delivery, or a security scanner."""

from __future__ import annotations

import datetime as dt

# A fetch this soon after we handed the email over is a scanner or a proxy's prefetch:
# nobody has read the email yet.
PREFETCH_WINDOW = dt.timedelta(seconds=10)

# Apple Mail Privacy Protection fetches every image through Apple's proxy on delivery
# and sends exactly this bare user agent.
_APPLE_MPP = "mozilla/5.0"
# Link and image scanners of mail gateways and generic HTTP clients. Gmail's and
# Yahoo's image proxies are not here: they fetch when the person opens the email, so
# they are reads (a prefetch by them is caught by PREFETCH_WINDOW).
_MACHINE_MARKERS = (
    "mimecast",
    "barracuda",
    "proofpoint",
    "symantec",
    "trendmicro",
    "bot",
    "spider",
    "crawler",
    "headlesschrome",
    "python-",
    "curl/",
    "wget/",
    "go-http-client",
)


def machine_open_reason(
    *, user_agent: str, delivered_at: dt.datetime | None, now: dt.datetime
) -> str:
    """Why a pixel fetch at `now` with `user_agent` is a machine's rather than a read,
    or "" when it looks like a person opening an email delivered at `delivered_at`."""
    agent = user_agent.strip().lower()
    if not agent:
        return "no user agent"
    if agent == _APPLE_MPP:
        return "apple mail privacy protection"
    marker = next((m for m in _MACHINE_MARKERS if m in agent), "")
    if marker:
        return f"user agent {marker}"
    if delivered_at is not None and now - delivered_at < PREFETCH_WINDOW:
        return "within seconds of delivery"
    return ""
