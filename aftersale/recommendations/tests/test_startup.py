"""Commands start without the numeric libraries: NumPy, pandas, SciPy, PyArrow,
matplotlib, mlxtend, implicit (and scikit-learn) are imported by the recommendation fit
and the offline evaluation where they run, never by settings, app loading, Django's
checks (which import the URLs) or a command's module. Importing them took every command,
and every restart of the worker, seconds (benchmarks/startup.py).

The test lives with the recommendations app because it owns these libraries: it checks
that they stay inside the fit's and the evaluation's code paths."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

NUMERIC = ("numpy", "pandas", "scipy", "pyarrow", "matplotlib", "mlxtend", "implicit", "sklearn")
# Commands whose every run works on arrays: they may import them at the top.
NEEDS_NUMERIC = {"demo": "loads a dataset with pandas", "evaluate": "the offline evaluation"}

# In a fresh interpreter: what each start-up step newly imported of NUMERIC.
_PROBE = f"""
import json, os, sys
NUMERIC = set({NUMERIC!r})
loaded = {{}}
def step(name):
    found = {{m.split(".")[0] for m in sys.modules}} & NUMERIC - seen
    loaded[name] = sorted(found)
    seen.update(found)
seen = set()
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aftersale.settings")
import django
django.setup()
step("django.setup()")
from django.core.management import ManagementUtility, get_commands, load_command_class
ManagementUtility(["aftersale", "--help"]).main_help_text()
step("aftersale --help")
from django.core import checks
checks.run_checks()
step("system checks (imports aftersale.urls)")
for name, app in sorted(get_commands().items()):
    if app.startswith("aftersale.") and name not in set({sorted(NEEDS_NUMERIC)!r}):
        load_command_class(app, name).create_parser("aftersale", name)
        step(f"aftersale {{name}}")
print(json.dumps(loaded))
"""


def test_no_command_imports_the_numeric_libraries_to_start(tmp_path: Path) -> None:
    env = {**os.environ, "AFTERSALE_HOME": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-c", _PROBE], env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    loaded = json.loads(done.stdout)
    assert "aftersale report" in loaded
    assert "aftersale worker" in loaded
    offenders = {step: modules for step, modules in loaded.items() if modules}
    assert not offenders, (
        f"imported at start-up: {offenders}; import them inside the functions that need them "
        "(python -X importtime shows which module did)"
    )
