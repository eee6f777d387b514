"""How many distinct products the demo's emails show (issue 18, variety): every email a
demo sent (`aftersale demo`, its AFTERSALE_HOME) has its picks recomputed at the moment it
was queued, with the fitted rows the demo stored and the code on the path, and the
distinct products counted beside those the emails were sent with.

    AFTERSALE_HOME=var .venv/bin/python benchmarks/demo_variety.py [--format text|json]

`recommend` gets each email's customer, its journey's trigger basket and its queued time,
with the cross-sell strategy the demo's flow asks for; an offer reminder shows the picks
of the offer it reminds of, as the flow does. Run against the code of a demo, it gives
back the products sent. `--format json` prints {"emails", "picks", "distinct",
"distinct_sent", "by_source", "top5_share", "seconds"}. Reads only: nothing is written.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aftersale.settings")

# The demo flow's (post-purchase-upsell) offer reminder, which shows the offer's picks.
REMINDER_STEP = 5


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--format", choices=("text", "json"), default="text")
    options = parser.parse_args()

    import django

    django.setup()
    from aftersale.messaging.models import Message
    from aftersale.orders.models import LineItem
    from aftersale.recommendations.selectors import recommend

    started = time.perf_counter()
    messages = (
        Message.objects.filter(enrollment__isnull=False)
        .select_related("enrollment", "enrollment__store")
        .order_by("queued_at", "pk")
    )
    baskets: dict[int | None, list[int]] = {}
    offered: dict[int, list[dict[str, object]]] = {}
    shown: collections.Counter[int] = collections.Counter()
    sent: set[object] = set()
    sources: collections.Counter[str] = collections.Counter()
    emails = 0
    for message in messages.iterator():
        emails += 1
        sent.update(pick["product_id"] for pick in message.recommendations)
        enrollment = message.enrollment
        assert enrollment is not None
        if message.step_index == REMINDER_STEP and enrollment.pk in offered:
            picks = offered[enrollment.pk]
        else:
            order = enrollment.trigger_order_id
            if order not in baskets:
                baskets[order] = (
                    list(
                        LineItem.objects.filter(order_id=order).values_list("product_id", flat=True)
                    )
                    if order is not None
                    else []
                )
            picks = [
                p.as_json()
                for p in recommend(
                    store=enrollment.store,
                    customer_id=enrollment.customer_id,
                    basket_product_ids=baskets[order],
                    now=message.queued_at,
                    strategy="cross_sell",
                )
            ]
            if message.coupon_id is not None:
                offered[enrollment.pk] = picks
        for pick in picks:
            shown[int(str(pick["product_id"]))] += 1
            sources[str(pick["strategy"])] += 1
    picks_total = sum(shown.values())
    result = {
        "emails": emails,
        "picks": picks_total,
        "distinct": len(shown),
        "distinct_sent": len(sent),
        "by_source": dict(sources),
        "top5_share": round(sum(c for _, c in shown.most_common(5)) / max(picks_total, 1), 4),
        "seconds": round(time.perf_counter() - started, 1),
    }
    if options.format == "json":
        print(json.dumps(result))
    else:
        print(
            f"{emails:,} emails, {picks_total:,} picks: {len(shown):,} distinct products "
            f"(the emails were sent with {len(sent):,}); by source {dict(sources)}; the 5 "
            f"most shown take {result['top5_share']:.1%}; {result['seconds']} s"
        )


if __name__ == "__main__":
    main()
