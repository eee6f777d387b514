"""Evaluation benchmark on two generated shapes unlike the Complete Journey (issue 18):
a grocery export (600 customers, 15,000 orders of about 10 lines) and a sparse gift shop
(3,600 customers, about 30,000 lines, few repeats), see
aftersale/recommendations/evaluation/shapes.py.

    .venv/bin/python benchmarks/evaluate_shapes.py [--store] [--format text|json]

Each shape is written as a CSV in a temporary folder and evaluated by
`aftersale evaluate --orders FILE --columns ...` (no cuts: chosen from the data) in a
subprocess; with `--store`, the gift shop is also imported into a store of a temporary
AFTERSALE_HOME and evaluated from the database by `aftersale evaluate --store SLUG
--quick`. Each run's wall seconds and peak resident memory (the largest process of its
tree, from wait4's rusage) are printed; `--format json` prints {name: {"seconds",
"peak_mb", "exit"}}. The goal: every run under 120 s and 4,096 MB.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aftersale.recommendations.evaluation.shapes import (
    GIFT_SHOP_COLUMNS,
    GROCERY_COLUMNS,
    as_import_csv,
    write_gift_shop,
    write_grocery,
)

AFTERSALE = str(Path(sys.executable).with_name("aftersale"))


def _timed(args: list[str], env: dict[str, str]) -> dict[str, float]:
    """Run `aftersale ARGS`; its seconds, peak RSS in MB and exit status."""
    started = time.perf_counter()
    child = subprocess.Popen([AFTERSALE, *args], env=env, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(child.pid, 0)
    return {
        "seconds": round(time.perf_counter() - started, 1),
        "peak_mb": round(usage.ru_maxrss / 1024),
        "exit": os.waitstatus_to_exitcode(status),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", action="store_true", help="also evaluate from a store")
    parser.add_argument("--format", choices=["text", "json"], default="text")
    options = parser.parse_args()
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as folder:
        home = Path(folder)
        env = {**os.environ, "AFTERSALE_HOME": str(home)}
        subprocess.run([AFTERSALE, "migrate", "-v0"], env=env, check=True)
        grocery = write_grocery(path=home / "grocery.csv")
        gifts = write_gift_shop(path=home / "gift-shop.csv")
        chart = ["--chart", str(home / "chart.png")]
        for name, path, columns in (
            ("grocery", grocery, GROCERY_COLUMNS),
            ("gift_shop", gifts, GIFT_SHOP_COLUMNS),
        ):
            args = ["evaluate", "--orders", str(path), "--columns", columns, *chart]
            results[name] = _timed(args, env)
        if options.store:
            native = as_import_csv(source=gifts, columns=GIFT_SHOP_COLUMNS, path=home / "g.csv")
            subprocess.run(
                [AFTERSALE, "stores", "create", "Gift Shop", "--slug", "gift-shop"],
                env=env,
                check=True,
                stdout=subprocess.DEVNULL,
            )
            subprocess.run(
                [AFTERSALE, "import", "orders", str(native), "--store", "gift-shop"],
                env=env,
                check=True,
                stdout=subprocess.DEVNULL,
            )
            args = ["evaluate", "--store", "gift-shop", "--quick", *chart]
            results["gift_shop_store_quick"] = _timed(args, env)
    if options.format == "json":
        print(json.dumps(results))
        return
    for name, figures in results.items():
        print(
            f"{name}: {figures['seconds']} s, peak {figures['peak_mb']} MB, exit {figures['exit']}"
        )


if __name__ == "__main__":
    main()
