"""D30: the processes that run the analysis have a fixed string-hash seed, so a fit repeats to the bit."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

PROBE = """
import os, sys
from impact.determinism import pin_hash_seed
pin_hash_seed()
print(os.environ["PYTHONHASHSEED"], hash("impact presence"), sys.argv[1:])
"""

FIT = """
import sys
import numpy as np, pandas as pd
from impact.determinism import pin_hash_seed
pin_hash_seed()
from impact.analysis.models import count_panel_model
rng = np.random.default_rng(1)
units, weeks = 40, 26
panel = pd.DataFrame({"zone": np.repeat([f"Z{u:02d}" for u in range(units)], weeks),
                      "week": np.tile([f"W{w:02d}" for w in range(weeks)], units)})
panel["minutes"] = rng.random(len(panel)) * 100
panel["share"] = rng.random(len(panel))
mu = np.exp(0.5 + 0.01 * panel["minutes"] - 0.3 * panel["share"] + rng.normal(0, 0.5, units).repeat(weeks))
panel["crimes"] = rng.poisson(mu)
out = count_panel_model(panel, "crimes", ["minutes", "share"], "zone", "week")
print(" ".join(float(v).hex() for v in [*out["estimate"], *out["std_error"]]))
"""


def _env_without_seed() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONHASHSEED"}
    env["PYTHONPATH"] = str(ROOT / "lib")
    return env


def test_a_process_without_a_seed_starts_again_with_one_and_keeps_its_arguments(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text(PROBE)
    runs = [subprocess.run([sys.executable, str(probe), "--date", "2026-03-29"], capture_output=True, text=True,
                           timeout=120, env=_env_without_seed()) for _ in range(2)]
    assert all(r.returncode == 0 for r in runs), [r.stderr for r in runs]
    lines = {r.stdout.strip() for r in runs}
    assert len(lines) == 1                                  # the same hash of a string in two processes
    seed, _, rest = lines.pop().partition(" ")
    assert seed == "0" and rest.endswith("['--date', '2026-03-29']")
    kept = subprocess.run([sys.executable, str(probe)], capture_output=True, text=True, timeout=120,
                          env={**_env_without_seed(), "PYTHONHASHSEED": "7"})
    assert kept.stdout.startswith("7 ")                     # a seed the caller fixed is kept


def test_the_same_panel_fitted_in_separate_processes_gives_the_same_bits(tmp_path):
    # without the pin, 8 processes fitting this panel gave two different results (4 and 4) in the last bits
    script = tmp_path / "fit.py"
    script.write_text(FIT)
    runs = [subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300,
                           env=_env_without_seed()) for _ in range(4)]
    assert all(r.returncode == 0 for r in runs), [r.stderr[-2000:] for r in runs]
    results = {r.stdout.strip().splitlines()[-1] for r in runs}
    assert len(results) == 1 and len(results.pop().split()) == 4


def test_the_entry_points_that_run_the_analysis_pin_the_seed():
    assert "pin_hash_seed()" in (ROOT / "jobs" / "analysis.py").read_text()
    assert "impact=impact.runner:console_main" in (ROOT / "setup.py").read_text()
    assert "console_main()" in (ROOT / "deploy" / "impact_main.py").read_text()
