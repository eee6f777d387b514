"""A program's codes as CSV, for stores that import them into their platform: streamed
a chunk of rows at a time, so 100,000 codes never sit in memory at once."""

import csv
import io
from collections.abc import Iterator

from aftersale.coupons.models import Coupon, CouponProgram

HEADER = ("code", "customer_email", "issued_at", "expires_at", "redeemed_at", "order_id", "flagged")
_CHUNK = 2_000


def export_lines(*, program: CouponProgram) -> Iterator[str]:
    """The CSV text of the program's codes, a header then one line per code, oldest
    first: its code; the recipient's email, issue and expiry (all empty for a bulk code
    not yet handed out); when it was redeemed and the store's id of that order; and
    `flagged` "yes" when the order was someone else's than the recipient's, else
    empty. Times are ISO 8601 in UTC."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")

    def line(row: tuple[object, ...]) -> str:
        buffer.seek(0)
        buffer.truncate()
        writer.writerow(row)
        return buffer.getvalue()

    yield line(HEADER)
    rows = (
        Coupon.objects.filter(program=program)
        .order_by("id")
        .values_list(
            "code",
            "customer_id",
            "customer__email",
            "issued_at",
            "expires_at",
            "redeemed_at",
            "redeemed_order__external_id",
            "redeemed_by_other",
        )
    )
    for code, customer_id, email, issued, expires, redeemed, order_id, other in rows.iterator(
        chunk_size=_CHUNK
    ):
        given = customer_id is not None
        yield line(
            (
                code,
                email or "" if given else "",
                issued.isoformat() if given else "",
                expires.isoformat() if given else "",
                redeemed.isoformat() if redeemed else "",
                order_id or "",
                "yes" if other else "",
            )
        )
