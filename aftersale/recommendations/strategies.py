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

# What the evaluation of a store's own history may put live (recommendations/live.py),
# per task: `cross_sell` (the thank-you, cross-sell, offer and win-back picks) and
# `replenishment` (the restock picks); the evaluated methods the recommender can serve,
# the default first.
LIVE_METHODS: dict[str, tuple[str, ...]] = {
    "cross_sell": ("discovery", "personal", "bought_together", "bestsellers", "popularity"),
    "replenishment": ("personal", "personal_frequency", "bestsellers", "popularity"),
}
LIVE_DEFAULTS: dict[str, str] = {task: methods[0] for task, methods in LIVE_METHODS.items()}
