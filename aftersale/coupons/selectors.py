"""Reading coupons."""

from aftersale.coupons.models import Coupon


def latest_coupon(*, program_id: int, customer_id: int) -> Coupon | None:
    """The newest coupon `program_id` issued to `customer_id`, if any."""
    return (
        Coupon.objects.filter(program_id=program_id, customer_id=customer_id)
        .order_by("-issued_at", "-id")
        .first()
    )
