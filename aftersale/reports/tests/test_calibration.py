"""The holdout numbers are honest: re-assigned at random salt after salt on a history where
the flow did nothing, the report's 95% intervals cover zero about 95% of the time; with a
known effect injected, they recover it; and the analysis-level simulation is exactly
what the backtest's engagement option gives the report."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import numpy as np
import pytest

from aftersale.customers.records import CustomerRecord
from aftersale.flows.backtest import run_backtest
from aftersale.flows.engagement import Engagement
from aftersale.flows.models import Flow
from aftersale.flows.scheduler import run_due_enrollments
from aftersale.flows.selectors import definition_of, latest_version
from aftersale.flows.services import install_flow, process_orders
from aftersale.flows.tests.helpers import add_templates
from aftersale.lib.clock import VirtualClock, use_clock
from aftersale.messaging.models import EmailTemplate
from aftersale.orders.models import Order
from aftersale.orders.records import OrderRecord
from aftersale.orders.services import ingest_orders
from aftersale.reports.calibration import (
    RecordedJourneys,
    calibrate,
    recorded_journeys,
    salt_names,
)
from aftersale.reports.experiments import experiment_keys
from aftersale.stores.models import Store

T0 = dt.datetime(2024, 3, 4, 9, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)
JOURNEYS = 2000
SALTS = 50


def _flow(
    store: Store, *, slug: str, percent: int, steps: list[dict], trigger: str = "first_purchase"
) -> Flow:
    templates = {s["template"] for s in steps if s["type"] == "email"}
    have = set(EmailTemplate.objects.filter(store=store).values_list("slug", flat=True))
    add_templates(store, T0 - 100 * DAY, *(templates - have))
    definition = {
        "name": slug,
        "trigger": {"event": trigger},
        "exit_when": [],
        "holdout_percent": percent,
        "guards": {"smart_sending_hours": 0, "quiet_hours": None},
        "steps": steps,
    }
    return install_flow(store=store, slug=slug, definition=definition, now=T0 - 100 * DAY)


def _generated_store(store: Store, n: int) -> list[int]:
    """`n` customers with a heavy-tailed (log-normal) taste: nine in ten bought 30 days
    before (their trigger order is then not a first purchase, so the flow is
    any_purchase), four in five buy again 3 days after the trigger; every amount scales
    with the taste, so the pre-entry covariates explain about half of the window's
    revenue's variance. Returns the trigger orders' ids."""
    rng = np.random.default_rng(20240304)
    taste = rng.lognormal(3.0, 0.8, size=n)
    records, triggers = [], []
    for i in range(n):
        who = CustomerRecord(external_id=f"c{i}", email=f"c{i}@example.com")

        def order(
            kind: str, at: dt.datetime, total: float, who: CustomerRecord = who, i: int = i
        ) -> None:
            records.append(
                OrderRecord(
                    external_id=f"{kind}{i}",
                    customer=who,
                    placed_at=at,
                    total=Decimal(f"{max(total, 1.0):.2f}"),
                )
            )

        if rng.random() < 0.9:
            order("p", T0 - 30 * DAY, taste[i] * rng.gamma(16.0, 1 / 16) * 2)
        order("t", T0 + i * dt.timedelta(seconds=7), taste[i] * rng.gamma(16.0, 1 / 16))
        triggers.append(f"t{i}")
        if rng.random() < 0.8:
            order("s", T0 + 3 * DAY, taste[i] * rng.gamma(8.0, 1 / 8) * 2)
    ingest_orders(store=store, records=records, now=T0)
    return list(
        Order.objects.filter(store=store, external_id__in=triggers).values_list("pk", flat=True)
    )


@pytest.fixture
def recorded(store: Store) -> tuple[int, RecordedJourneys]:
    """A flow sending one email at entry to every one of JOURNEYS journeys (holdout 0),
    whose journeys are recorded as the calibration reads them: the flow's id and them."""
    flow = _flow(
        store,
        slug="thanks",
        percent=0,
        steps=[{"type": "email", "template": "thanks"}],
        trigger="any_purchase",
    )
    triggers = _generated_store(store, JOURNEYS)
    now = T0 + DAY
    process_orders(store=store, order_ids=triggers, now=now, flows=[flow])
    while run_due_enrollments(now=now, store=store, flow=flow).claimed:
        pass
    return flow.pk, recorded_journeys(flow=flow, now=T0 + 10 * DAY)


def test_aa_the_95_percent_intervals_cover_a_zero_effect_about_95_percent_of_the_time(
    recorded: tuple[int, RecordedJourneys],
) -> None:
    flow_id, journeys = recorded
    # Every journey, with the report's outcome and covariates: four in five bought again
    # in the window, nine in ten had bought before entry, all have a trigger order.
    assert len(journeys) == JOURNEYS and journeys.emailed.all()
    assert 0.75 < float((journeys.revenue > 0).mean()) < 0.85
    assert 0.85 < float((journeys.covariates[:, 1] > 0).mean()) < 0.95
    assert (journeys.covariates[:, 2] > 0).all()
    aa = calibrate(journeys=journeys, flow_id=flow_id, salts=salt_names(SALTS))
    assert aa.salts == SALTS
    assert all(o.truth == 0 for o in aa.outcomes)
    assert all(150 <= o.holdout <= 250 for o in aa.outcomes)  # 10% of 2,000
    assert 0.88 <= aa.coverage_bootstrap <= 1.0
    assert 0.88 <= aa.coverage_cuped <= 1.0
    # The covariates explain about half the revenue's variance: CUPED is narrower.
    assert aa.median_width_cuped < 0.8 * aa.median_width_bootstrap
    # And the estimates are centred on zero: their mean is a fraction of one interval.
    assert abs(aa.mean_estimate) < 0.15 * aa.median_width_bootstrap


def test_a_known_effect_is_recovered_and_covered(
    recorded: tuple[int, RecordedJourneys],
) -> None:
    flow_id, journeys = recorded
    engagement = Engagement(click=0.5, buy=0.5, value=Decimal("120"), seed=7)
    effect = calibrate(
        journeys=journeys, flow_id=flow_id, salts=salt_names(SALTS), engagement=engagement
    )
    # 30.00 per emailed recipient (0.5 * 0.5 * 120), about 1,800 recipients.
    assert all(o.truth == 30.0 * o.recipients for o in effect.outcomes)
    error = effect.mean_error_pct
    assert error is not None and abs(error) < 5
    assert abs(effect.mean_estimate_cuped - effect.truth) < 0.05 * effect.truth
    assert 0.88 <= effect.coverage_bootstrap <= 1.0
    assert 0.88 <= effect.coverage_cuped <= 1.0
    # The covariates explain about half the variance: CUPED's interval is about 30%
    # narrower (1 - sqrt(1 - 0.5)), as the published figures say.
    assert 20 < effect.cuped_width_reduction_pct < 40
    # Seeded: the same salts and seed give the same outcomes, another salt others.
    again = calibrate(
        journeys=journeys, flow_id=flow_id, salts=salt_names(2), engagement=engagement
    )
    assert again.outcomes == effect.outcomes[:2]
    other = calibrate(journeys=journeys, flow_id=flow_id, salts=["other"], engagement=engagement)
    assert other.outcomes[0].bootstrap != effect.outcomes[0].bootstrap


def test_the_analysis_level_simulation_is_what_the_backtest_option_gives_the_report(
    store: Store,
) -> None:
    """One salt (the flow's own assignment at entry, salt ""): flow A recorded with holdout
    0 and re-assigned with B's hash, plus the simulated buyers' extra orders, gives the
    numbers the report reads for flow B, backtested with its 30% holdout and the
    engagement option adding those orders in the database."""
    steps: list[dict] = [{"type": "delay", "hours": 2}, {"type": "email", "template": "thanks"}]
    rng = np.random.default_rng(5)
    records = []
    for i in range(400):
        who = CustomerRecord(external_id=f"c{i}", email=f"c{i}@example.com")
        at = T0 + i * dt.timedelta(minutes=13)
        records.append(OrderRecord(f"t{i}", who, at, total=Decimal(f"{10 + rng.gamma(2, 15):.2f}")))
        if rng.random() < 0.4:
            later = at + dt.timedelta(days=float(rng.uniform(1, 6)))
            records.append(
                OrderRecord(f"s{i}", who, later, total=Decimal(f"{rng.gamma(2, 20):.2f}"))
            )
    ingest_orders(store=store, records=records, now=T0)
    start, end = T0 - DAY, T0 + 10 * DAY
    a = _flow(store, slug="a", percent=0, steps=steps)
    b = _flow(store, slug="b", percent=30, steps=steps)
    engagement = Engagement(click=0.6, buy=0.5, value=Decimal("45.50"), seed=11)
    clock = VirtualClock(start)
    with use_clock(clock):
        run_backtest(flow=a, start=start, end=end, clock=clock)
    now = end + 20 * DAY
    journeys = recorded_journeys(flow=a, now=now)
    assert len(journeys) == 400 and journeys.emailed.all()
    clock = VirtualClock(start)
    with use_clock(clock):
        summary = run_backtest(flow=b, start=start, end=end, clock=clock, engagement=engagement)
    assert summary.engagement_orders > 0
    keys = experiment_keys(flow=b, definition=definition_of(latest_version(flow=b).pk), now=now)

    simulated = calibrate(
        journeys=journeys, flow_id=b.pk, salts=[""], percent=30, engagement=engagement
    ).outcomes[0]
    assert simulated.holdout == keys["holdout"]["customers"]
    assert simulated.recipients == keys["recipients"]["customers"]
    assert round(simulated.bootstrap.value, 2) == keys["incremental_revenue"]
    assert [round(simulated.bootstrap.low, 2), round(simulated.bootstrap.high, 2)] == keys[
        "incremental_revenue_ci"
    ]
    assert round(simulated.cuped.value, 2) == keys["incremental_revenue_cuped"]
    assert [round(simulated.cuped.low, 2), round(simulated.cuped.high, 2)] == keys[
        "incremental_revenue_cuped_ci"
    ]
    buyers = [engagement.buys(customer_id=int(c)) for c in journeys.customer_ids]
    assert summary.engagement_orders == sum(
        bought for bought, held in zip(buyers, _held_by(b, journeys), strict=True) if not held
    )


def _held_by(flow: Flow, journeys: RecordedJourneys) -> list[bool]:
    from aftersale.flows.holdout import in_holdout

    return [
        in_holdout(flow_id=flow.pk, customer_id=int(c), percent=30) for c in journeys.customer_ids
    ]
