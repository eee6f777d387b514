"""Which pixel fetches are machines (privacy proxies, scanners) rather than reads."""

from __future__ import annotations

import datetime as dt

import pytest

from aftersale.tracking.machines import PREFETCH_WINDOW, machine_open_reason

DELIVERED = dt.datetime(2024, 3, 4, 9, 0, tzinfo=dt.UTC)
LATER = DELIVERED + dt.timedelta(hours=3)
GMAIL_PROXY = (
    "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"
)
IPHONE_MAIL = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Mobile/15E148"
)


@pytest.mark.parametrize(
    ("agent", "reason"),
    [
        ("Mozilla/5.0", "apple mail privacy protection"),
        ("", "no user agent"),
        ("Mozilla/5.0 (compatible; Mimecast-Scanner/2.0)", "user agent mimecast"),
        ("Barracuda Sentinel (EE)", "user agent barracuda"),
        ("python-requests/2.31", "user agent python-"),
        ("Mozilla/5.0 (compatible; bingbot/2.0)", "user agent bot"),
        # Gmail's and Yahoo's proxies fetch when the person opens the email: a read.
        (GMAIL_PROXY, ""),
        ("YahooMailProxy; https://help.yahoo.com/kb/yahoo-mail-proxy-SLN28749.html", ""),
        (IPHONE_MAIL, ""),
        ("Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.17328; Pro)", ""),
    ],
)
def test_user_agents_of_proxies_and_scanners_are_machines_and_mail_clients_are_reads(
    agent: str, reason: str
) -> None:
    assert machine_open_reason(user_agent=agent, delivered_at=DELIVERED, now=LATER) == reason


def test_any_fetch_within_seconds_of_delivery_is_a_prefetch_and_later_it_is_a_read() -> None:
    agent = "Mozilla/5.0 (X11; Linux x86_64) Thunderbird/128.0"
    soon = DELIVERED + PREFETCH_WINDOW - dt.timedelta(seconds=1)
    reason = machine_open_reason(user_agent=agent, delivered_at=DELIVERED, now=soon)
    assert reason == "within seconds of delivery"
    assert (
        machine_open_reason(user_agent=agent, delivered_at=DELIVERED, now=soon + PREFETCH_WINDOW)
        == ""
    )
    assert machine_open_reason(user_agent=agent, delivered_at=None, now=soon) == ""
