"""Who is in a flow's holdout: a stable hash of flow and customer, decided at entry.

A customer's place in [0, 1) is the first 8 bytes of blake2b("FLOW:CUSTOMER:SALT")
read as an integer over 2**64; the customer is held out when that place is below the
flow's share. The same flow, customer and salt always give the same answer (a second
journey of the same customer lands in the same group), and a different salt is a new,
independent assignment: the A/A calibration re-assigns one history with many salts.
"""

import hashlib

_SPAN = float(2**64)


def holdout_point(*, flow_id: int, customer_id: int, salt: str = "") -> float:
    """The customer's stable place in [0, 1) for `flow_id`'s holdout, uniform over
    customers; another `salt` gives an independent place."""
    digest = hashlib.blake2b(f"{flow_id}:{customer_id}:{salt}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / _SPAN


def in_holdout(*, flow_id: int, customer_id: int, percent: float, salt: str = "") -> bool:
    """Whether the customer is held out of `flow_id`: their place is below `percent`/100
    (0: nobody; the definition bounds it to at most 50)."""
    return holdout_point(flow_id=flow_id, customer_id=customer_id, salt=salt) < percent / 100
