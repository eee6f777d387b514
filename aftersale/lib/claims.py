"""Claiming rows for one worker: a lease written into the row itself.

A claimable row has a `claimed_by` (who holds it) and a `claimed_until` (when the lease
runs out) column. A worker claims due rows by writing its token and the lease's end
into them; rows whose lease is live are not claimable, rows whose lease ran out are
(their worker died or stalled). Nothing is held in memory that is not in the row, so a
worker may be killed at any moment: its rows come back when their leases expire.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, TypeVar

from django.db import connection, transaction
from django.db.models import Model, Q, QuerySet

M = TypeVar("M", bound=Model)

# When another worker takes some of our candidates (SQLite), look for more this often.
CLAIM_ROUNDS = 3


class LeaseLost(RuntimeError):
    """Another worker took the row over after our lease ran out: our write is refused."""


def free_at(now: dt.datetime) -> Q:
    """Rows nobody holds a live lease on at `now`."""
    return Q(claimed_until__isnull=True) | Q(claimed_until__lt=now)


def claim_rows(due: QuerySet[M], *, limit: int, token: str, until: dt.datetime) -> QuerySet[M]:
    """Lease up to `limit` rows of `due` (ordered, and filtered to rows free to claim,
    e.g. with `free_at`) to `token` until `until`, and return the rows this claim holds.
    Two workers claiming at the same moment never get the same row: PostgreSQL picks
    rows with FOR UPDATE SKIP LOCKED, other databases (SQLite) with a conditional UPDATE
    that repeats `due`'s filter, so it only touches rows still free."""
    if connection.features.has_select_for_update_skip_locked:
        ids = _lease_skipping_locked(due, limit=limit, token=token, until=until)
    else:
        ids = _lease_if_still_free(due, limit=limit, token=token, until=until)
    return due.model._default_manager.filter(pk__in=ids, claimed_by=token, claimed_until=until)


def _lease_skipping_locked(
    due: QuerySet[M], *, limit: int, token: str, until: dt.datetime
) -> list[Any]:
    # Row locks last only for this short transaction; the lease written in it is what
    # keeps other workers away afterwards (and expires if we die).
    with transaction.atomic():
        ids = list(due.select_for_update(skip_locked=True).values_list("pk", flat=True)[:limit])
        due.model._default_manager.filter(pk__in=ids).update(claimed_by=token, claimed_until=until)
    return ids


def _lease_if_still_free(
    due: QuerySet[M], *, limit: int, token: str, until: dt.datetime
) -> list[Any]:
    won, candidates = 0, []
    for _ in range(CLAIM_ROUNDS):
        ids = list(due.values_list("pk", flat=True)[: limit - won])
        if not ids:
            break
        candidates += ids
        # The due filter again in the UPDATE skips rows another worker claimed meanwhile.
        taken = due.filter(pk__in=ids).update(claimed_by=token, claimed_until=until)
        won += taken
        if taken == len(ids) or won >= limit:
            break  # no other worker got in between: nothing left to catch up on
    return candidates


def release_row(model: type[Model], *, pk: Any, token: str, **fields: Any) -> None:
    """Write `fields` into row `pk` of `model` and give up its lease, only while `token`
    still holds it: the UPDATE must hit exactly one row, else LeaseLost (and the caller's
    transaction rolls back whatever it did with the row)."""
    updated = model._default_manager.filter(pk=pk, claimed_by=token).update(
        claimed_by="", claimed_until=None, **fields
    )
    if updated != 1:
        raise LeaseLost(f"{model._meta.label} {pk} was taken over by another worker")
