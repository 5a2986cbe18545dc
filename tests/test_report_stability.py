"""The Evidently reports of a day are the same bytes in every process, whatever Python's string hash seed.

Each build runs in its own interpreter with a fixed PYTHONHASHSEED: one process cannot show the defect, since the order
in which a set of category strings iterates is fixed for the life of a process."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

from tests.conftest import ROOT

SEEDS = (1, 2)  # seeds under which Evidently 0.7.23 without the adapter orders this day's categories differently
ROWS = 800


def _day(seed: int, drifted: bool) -> pd.DataFrame:
    """A small scored, labelled day: categories tied in count (4 homes, the 2 commonest purposes) beside rare ones."""
    from tests.data import Drift, applicants

    rng = np.random.default_rng(seed)
    frame = applicants(ROWS, rng, Drift() if drifted else None)
    homes = np.array(["RENT", "MORTGAGE", "OWN", "OTHER"] * (ROWS // 4 - 1) + ["zz", "aa", "mm", "qq"], dtype=object)
    frame["home_ownership"] = rng.permutation(homes)
    purposes = np.array(["education", "wedding"] * (ROWS * 3 // 8) + list(frame["loan_purpose"][ROWS * 3 // 4:]))
    frame["loan_purpose"] = rng.permutation(purposes.astype(object))
    frame["approval_probability"] = rng.random(ROWS).round(6)
    frame["approved"] = (frame["approval_probability"] >= 0.5).astype(int)
    frame["label"] = (rng.random(ROWS) < frame["approval_probability"]).astype(int)
    return frame


def write_reports(out: str) -> None:
    """Run in a subprocess: the day's reports and its performance report, each written as <name>.html and .json."""
    import monitoring
    from monitoring import distances, reports
    from monitoring.config import ColumnDrift, load_config
    from tests.test_reports import drift_of

    assert Path(monitoring.__file__).resolve().is_relative_to(ROOT), monitoring.__file__
    model = load_config(ROOT / "config" / "models.yaml").model("loan_approval")
    # Hellinger builds its own set of categories instead of calling Evidently's helper: covered too.
    model = model.model_copy(update={"drift": model.drift.model_copy(update={
        "columns": {"home_ownership": ColumnDrift(method="hellinger", threshold=0.1)}})})
    current, reference = _day(1, drifted=True), _day(2, drifted=False)
    drift = drift_of(current, reference, model)
    rendered = [*reports.build_reports(current, reference, model, drift),
                reports.build_performance_report(current, reference, model)]
    for report in rendered:
        (Path(out) / f"{report.name}.html").write_text(report.html)
        (Path(out) / f"{report.name}.json").write_text(report.json)
    # The library's own drift scores (the summary's) call the same stattests: every digit the same too.
    scores = [repr(distances.score(method, "categorical", reference[c], current[c]))
              for c in model.columns.categorical for method in ("jensenshannon", "hellinger", "psi", "chisquare")]
    (Path(out) / "scores.txt").write_text("\n".join(scores))


def _build(seed: int, out: Path) -> float:
    out.mkdir()
    started = time.monotonic()
    env = {**os.environ, "PYTHONHASHSEED": str(seed), "PYTHONPATH": str(ROOT)}
    subprocess.run([sys.executable, "-c", "import sys; from tests.test_report_stability import write_reports; "
                    "write_reports(sys.argv[1])", str(out)], cwd=ROOT, env=env, check=True, timeout=120)
    return time.monotonic() - started


def _first_difference(a: str, b: str) -> str:
    at = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
    return f"at {at}: {a[max(at - 80, 0):at + 80]!r} != {b[max(at - 80, 0):at + 80]!r}"


def test_a_day_s_reports_are_the_same_bytes_under_two_hash_seeds(tmp_path):
    # Two interpreters at once: each is mostly Evidently's import and one core's work.
    with ThreadPoolExecutor(len(SEEDS)) as pool:
        list(pool.map(_build, SEEDS, [tmp_path / str(seed) for seed in SEEDS]))
    first, second = (tmp_path / str(seed) for seed in SEEDS)
    names = sorted(p.name for p in first.iterdir())
    assert names == sorted(p.name for p in second.iterdir())
    assert {n.rsplit(".", 1)[0] for n in names} == {"data_drift", "data_quality", "prediction_drift",
                                                     "model_performance", "scores"}
    differing = {name: _first_difference((first / name).read_text(), (second / name).read_text())
                 for name in names if (first / name).read_bytes() != (second / name).read_bytes()}
    assert not differing, differing
