"""Messages are read for rendering with what their emails need, a batch at a time."""

from __future__ import annotations

from typing import Any

from aftersale.lib.clock import VirtualClock
from aftersale.messaging.models import Message
from aftersale.messaging.outbox.selectors import (
    for_rendering,
    recommendations_offered,
    recommendations_offered_many,
)
from aftersale.messaging.rendering.context import context_for, facts_for_messages
from aftersale.messaging.tests.factories import (
    make_coupon,
    make_customer,
    make_enrollment,
    make_scenario,
)
from aftersale.stores.models import Store


def _batch(store: Store, clock: VirtualClock, *, size: int) -> list[Message]:
    messages = []
    for i in range(size):
        customer = make_customer(store, now=clock.now(), first_name=f"C{i}")
        scenario = make_scenario(store, now=clock.now(), customer=customer)
        messages.append(scenario.message("cross-sell-offer", now=clock.now()))
        messages.append(scenario.message("order-confirmation", now=clock.now()))
    return messages


def _queries_to_render(messages: list[Message], clock: VirtualClock, assert_queries: Any) -> int:
    with assert_queries(100) as captured:
        loaded = for_rendering(Message.objects.filter(id__in=[m.pk for m in messages]))
        facts = facts_for_messages(loaded)
        for message in loaded:
            context_for(facts=facts[message.pk], now=clock.now())
            assert message.customer.unsubscribed_at is None  # read when sending
            assert message.template.kind and message.store.name
    return len(captured)


def test_a_batch_is_read_in_the_same_few_queries_however_many_messages(
    store: Store, clock: VirtualClock, django_assert_max_num_queries: Any
) -> None:
    few = _queries_to_render(_batch(store, clock, size=1), clock, django_assert_max_num_queries)
    Message.objects.all().delete()
    many = _queries_to_render(_batch(store, clock, size=6), clock, django_assert_max_num_queries)
    assert many == few <= 12


def test_messages_of_a_batch_share_one_instance_of_each_shared_row(
    store: Store, clock: VirtualClock
) -> None:
    messages = _batch(store, clock, size=2)
    loaded = for_rendering(Message.objects.filter(id__in=[m.pk for m in messages]))
    assert len(loaded) == 4
    assert len({id(m.store) for m in loaded}) == 1
    assert len({id(m.coupon.program) for m in loaded if m.coupon is not None}) == 1
    cross_sell = [m for m in loaded if m.template.slug == "cross-sell-offer"]
    assert cross_sell[0].template is cross_sell[1].template


def test_the_offers_of_many_reminders_are_each_ones_recommendations_offered(
    store: Store, clock: VirtualClock
) -> None:
    now = clock.now()
    ann = make_scenario(store, now=now)
    ann.message("cross-sell-offer", now=now)  # the first email with her code: its products
    ann.message("offer-reminder", now=now, recommendations=[{"product_id": ann.picks[0].pk}])
    bob = make_scenario(store, now=now, customer=make_customer(store, now=now, first_name="B"))
    bob.message("cross-sell-offer", now=now, recommendations=[])  # an offer of no products
    newer = make_coupon(store, ann.customer, now=now)  # no email carried it
    elsewhere = make_enrollment(store, ann.customer, now=now, order=ann.order)
    pairs = [
        (ann.enrollment.pk, ann.coupon.pk),
        (bob.enrollment.pk, bob.coupon.pk),
        (ann.enrollment.pk, newer.pk),
        (elsewhere.pk, ann.coupon.pk),  # her code, but not in that journey's emails
    ]

    offered = recommendations_offered_many(pairs=pairs)

    one_by_one = {
        (e, c): found
        for e, c in pairs
        if (found := recommendations_offered(enrollment_id=e, coupon_id=c)) is not None
    }
    assert offered == one_by_one
    assert set(offered) == set(pairs[:2])
    assert len(offered[pairs[0]]) == 2 and offered[pairs[1]] == []
