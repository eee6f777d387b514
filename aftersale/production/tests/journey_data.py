"""The production-mode test's data: a store, a live three-email flow with a day between
the emails, and `count` first-time buyers enrolled through the real services. Run in a
child process against the test's own database:

    aftersale shell -c "from aftersale.production.tests.journey_data import populate;
                        populate(count=N)"
"""

# Guards off so the wall-clock hour (quiet hours) or the earlier emails of the journey
# (smart sending) cannot hold an email back.
THREE_EMAILS = {
    "name": "Three emails",
    "trigger": {"event": "any_purchase"},
    "exit_when": [],
    "guards": {"quiet_hours": None, "smart_sending_hours": 0},
    "steps": [
        {"type": "email", "template": "thank-you"},
        {"type": "delay", "days": 1},
        {"type": "email", "template": "thank-you"},
        {"type": "delay", "days": 1},
        {"type": "email", "template": "thank-you"},
    ],
}
EMAILS_PER_JOURNEY = 3
DAYS_BETWEEN = 1


def populate(*, count: int) -> None:
    """Create the store, its templates and the live flow, `count` customers with one paid
    order each placed a minute ago, enroll them all; print {"enrollments": n}."""
    # Imported here: the constants above are read outside Django too (benchmarks/soak.py).
    from aftersale.worker.tests import crash_data

    crash_data.populate(count=count, definition=THREE_EMAILS, slug="three")
