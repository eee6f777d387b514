"""Background runs in the worker: each pass claims at most one queued CSV import and one
queued backtest and runs it to its end (lib.runs: one claim wins, so two workers never
run the same one), after failing the runs whose worker died (running for more than
lib.runs.STALE_AFTER). `aftersale serve` has a worker inside, so an upload from the
dashboard runs in the serve process."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from aftersale.flows.backtest_runs import run_queued_backtest
from aftersale.flows.models import BacktestRun
from aftersale.integrations.import_runs import run_import
from aftersale.integrations.models import ImportRun
from aftersale.integrations.platforms.coupon_sync import sync_waiting_codes
from aftersale.integrations.platforms.deliveries import process_deliveries
from aftersale.lib.clock import now
from aftersale.lib.runs import claim_next, fail_stale_runs

logger = logging.getLogger(__name__)


@dataclass
class JobsDone:
    """What one pass's background runs did."""

    imports: int = 0
    backtests: int = 0
    failed_stale: int = 0
    webhooks: int = 0
    coupons_synced: int = 0

    @property
    def total(self) -> int:
        return (
            self.imports + self.backtests + self.failed_stale + self.webhooks + self.coupons_synced
        )


def run_jobs(*, home: Path | None = None) -> JobsDone:
    """Fail the stale runs, then claim and run one queued import and one queued backtest
    (the backtest's throwaway database under `home`/runs, AFTERSALE_HOME by default),
    apply the stored webhooks and create in their shops the coupon codes emails wait for."""
    done = JobsDone()
    done.failed_stale = fail_stale()
    done.imports = run_next_import()
    done.backtests = run_next_backtest(home=home)
    done.webhooks = apply_webhooks()
    done.coupons_synced = sync_shop_codes()
    return done


def fail_stale() -> int:
    """Mark failed the imports and backtests whose worker died; return how many."""
    moment = now()
    failed = fail_stale_runs(ImportRun, now=moment) + fail_stale_runs(BacktestRun, now=moment)
    if failed:
        logger.warning("%d background runs failed: their worker stopped", failed)
    return failed


def run_next_import() -> int:
    """Claim the oldest queued CSV import and run it to its end; return 1, or 0 when none
    was queued (or another worker won it)."""
    if (upload := claim_next(ImportRun, now=now())) is None:
        return 0
    run = run_import(run=upload, now=now)
    logger.info("import run %s of %s: %s", run.pk, run.file_name, run.status)
    return 1


def run_next_backtest(*, home: Path | None = None) -> int:
    """Claim the oldest queued backtest and run it to its end in a throwaway database
    under `home`/runs (AFTERSALE_HOME by default); return 1, or 0 when none was queued."""
    home = Path(settings.DATA_DIR) if home is None else home
    if (backtest := claim_next(BacktestRun, now=now())) is None:
        return 0
    run_bt = run_queued_backtest(run=backtest, directory=home / "runs", now=now)
    logger.info("backtest %s of flow %s: %s", run_bt.pk, run_bt.flow_id, run_bt.status)
    return 1


def apply_webhooks() -> int:
    """Apply the platform webhooks the requests stored (integrations/platforms): fail the
    stale ones, prune old ones, process up to a batch; return how many were processed."""
    return process_deliveries(now=now)


def sync_shop_codes() -> int:
    """Create in their Shopify shops the coupon codes whose emails wait for them
    (integrations/platforms/coupon_sync); return how many the shops now have."""
    return sync_waiting_codes()
