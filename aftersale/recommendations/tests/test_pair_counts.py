import os
import subprocess
import sys
from pathlib import Path

# A child with a home of its own and no NUMBA_CACHE_DIR: what a service user starts with.
_COMPILE_ONE_LOOP = """
import django, numpy as np
django.setup()
from aftersale.recommendations.pair_counts import numbered
codes, values = numbered(np.array([7, 5, 7, 6], np.int64))
print(codes.tolist(), values.tolist())
"""


def test_the_compiled_loops_are_cached_in_the_aftersale_home(tmp_path: Path) -> None:
    environment = {key: value for key, value in os.environ.items() if key != "NUMBA_CACHE_DIR"} | {
        "AFTERSALE_HOME": str(tmp_path),
        "DJANGO_SETTINGS_MODULE": "aftersale.settings",
    }

    done = subprocess.run(
        [sys.executable, "-c", _COMPILE_ONE_LOOP],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[0] == "[0, 1, 0, 2] [7, 5, 6]"
    assert list((tmp_path / "cache" / "numba").rglob("*.nbi")), "no numba index in the home"
