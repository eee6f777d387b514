"""The names of the live recommendation strategies, importable without Django, so the
flow definition language can offer exactly the strategies the recommender has."""

from typing import Literal, get_args

Strategy = Literal[
    "cross_sell",
    "complementary",
    "upsell",
    "replenishment",
    "personal",
    "discovery",
    "frequently_bought_together",
]
STRATEGIES: tuple[str, ...] = get_args(Strategy)
