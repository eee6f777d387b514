"""Start-up benchmark: how long `aftersale` commands take to start, next to django.setup().

    .venv/bin/python benchmarks/startup.py [--quick] [--repeat N] [--cold]
        [--format text|json]

Creates a temporary AFTERSALE_HOME with a SQLite database, migrates it and gives it one
store with one installed flow (no customers, no orders) and runs one worker pass on it,
which does the store's first daily recommendation fit: all of this outside the timing.
Then it times, in the same run, each in a fresh subprocess, alternating, N times each:

- the baseline: `python -c` with a bare django.setup() of the same settings (which still
  imports every app's models, and the tracking app's signal receivers);
- `aftersale --help` (the list of commands);
- `aftersale report post-purchase-upsell` (Django's system checks, which import the URLs,
  then the flow's empty report);
- `aftersale worker --once` (checks, then one scheduler pass finding nothing to do, as a
  worker restarted after a crash does).

Python's bytecode caches are written, by the untimed first run of each, to a folder of the
temporary home (PYTHONPYCACHEPREFIX), never into the tree, and read by the timed runs, as
on a server after its first start, even when PYTHONDONTWRITEBYTECODE is set; `--cold`
times every run compiling all the source it imports instead (no caches at all).

It prints each one's median; `--format json` prints exactly {"cli_seconds",
"django_setup_seconds", "ratio"}, where cli_seconds is the slowest of the commands'
medians and ratio = cli_seconds / django_setup_seconds (goal <= 2).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
FLOW = "post-purchase-upsell"
SETUP = (
    "import os; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'aftersale.settings'); "
    "import django; django.setup()"
)
# Outside the timing: the schema, a store, a ready flow, and a worker pass so that the
# store's daily fit is done (else the first timed worker would run it, the others not).
SEED = (
    SETUP + "\n"
    "from django.core.management import call_command\n"
    "from aftersale.lib.clock import now\n"
    "from aftersale.stores.services import create_store\n"
    "call_command('migrate', verbosity=0)\n"
    "create_store(name='Bench Shop', slug='bench', now=now())\n"
    f"call_command('flows', 'install', {FLOW!r}, verbosity=0)\n"
    "call_command('worker', once=True, verbosity=0)\n"
)


def main() -> None:
    """Parse the arguments, time the start-ups in a temporary AFTERSALE_HOME, print them."""
    args = _arguments()
    repeat = args.repeat or (3 if args.quick else 9)
    with tempfile.TemporaryDirectory(prefix="aftersale-bench-") as home:
        env = _environment(home, cold=args.cold)
        _run([sys.executable, "-c", SEED], env=env)
        result = run(repeat=repeat, env=env)
    medians = result["medians"]
    if args.format == "json":
        print(json.dumps({k: result[k] for k in ("cli_seconds", "django_setup_seconds", "ratio")}))
        return
    caches = "compiling from source" if args.cold else "bytecode cached"
    lines = [f"start-up, median of {repeat} fresh processes each, {caches} (load {_load()}):"]
    cpu = result["cpu_medians"]
    lines += [
        f"  {name:<40} {seconds * 1000:7.0f} ms  (CPU {cpu[name] * 1000:5.0f} ms)"
        for name, seconds in medians.items()
    ]
    lines.append(f"  ratio {result['ratio']:.2f} (slowest command / django.setup(), goal <= 2)")
    print("\n".join(lines))


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="3 runs of each")
    parser.add_argument("--repeat", type=int, default=0, help="runs of each (default 9)")
    parser.add_argument("--cold", action="store_true", help="no bytecode caches")
    parser.add_argument("--format", choices=("text", "json"), default="text")
    return parser.parse_args()


def _environment(home: str, *, cold: bool) -> dict[str, str]:
    """This process's environment pointed at `home`, so nothing touches ./var, with the
    bytecode caches in `home` too (none written when `cold`)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.update(
        AFTERSALE_HOME=home,
        AFTERSALE_DATABASE_URL=f"sqlite:///{home}/bench.sqlite3",
        DJANGO_SETTINGS_MODULE="aftersale.settings",
        PYTHONPYCACHEPREFIX=f"{home}/pycache",
    )
    if cold:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def _commands() -> dict[str, list[str]]:
    """What is timed, by name: the baseline first, then the real console script."""
    script = Path(sys.executable).parent / "aftersale"
    cli = [str(script)] if script.exists() else [sys.executable, "-m", "aftersale.cli"]
    return {
        "django.setup()": [sys.executable, "-c", SETUP],
        "aftersale --help": [*cli, "--help"],
        f"aftersale report {FLOW}": [*cli, "report", FLOW],
        "aftersale worker --once": [*cli, "worker", "--once"],
    }


def run(*, repeat: int, env: dict[str, str]) -> dict[str, Any]:
    """Time every command `repeat` times, one of each in turn (so a change in the
    machine's load falls on all alike), after one untimed run of each (which writes the
    bytecode caches unless cold); return the medians and the ratio."""
    commands = _commands()
    for command in commands.values():
        _run(command, env=env)
    times: dict[str, list[float]] = {name: [] for name in commands}
    cpu_times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(repeat):
        for name, command in commands.items():
            cpu_before = _children_cpu()
            started = time.perf_counter()
            _run(command, env=env)
            times[name].append(time.perf_counter() - started)
            cpu_times[name].append(_children_cpu() - cpu_before)
    medians = {name: statistics.median(seconds) for name, seconds in times.items()}
    setup = medians["django.setup()"]
    # The CLI's figure is its slowest command's median: every command must start fast.
    cli = max(seconds for name, seconds in medians.items() if name != "django.setup()")
    return {
        "medians": medians,
        "cpu_medians": {name: statistics.median(seconds) for name, seconds in cpu_times.items()},
        "cli_seconds": cli,
        "django_setup_seconds": setup,
        "ratio": cli / setup,
    }


def _children_cpu() -> float:
    """User + system CPU seconds of the finished subprocesses so far: on a shared
    machine, steadier than the wall clock (shown next to it, not used in the ratio)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _run(command: list[str], *, env: dict[str, str]) -> None:
    done = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr}")


def _load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


if __name__ == "__main__":
    main()
