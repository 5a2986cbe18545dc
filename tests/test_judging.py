"""How a day is judged (monitoring/judging.py), on synthetic data with a known answer: the fixed lines in fixed mode,
every reported metric at its own band, a break of the features' joint distribution found where no single feature
moved, and a labelled day judged only once enough of it is labelled."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from monitoring import judging
from monitoring.config import DriftConfig, MinimumChanges, Scoring
from monitoring.day_state import DayState
from monitoring.reference import OperationalBaseline, ReferenceProfile
from monitoring.vocabulary import ModelTask
from tests.world import judging as metric_judging
from tests.world import labelled_world, settings, world

DAY = dt.date(2026, 10, 14)


def test_fixed_mode_gives_the_configured_lines_verdicts():
    rng = np.random.default_rng(2)
    reference, day = world(5_000, rng), world(300, rng, shift=0.1)
    fit = settings(calibrated=False)
    profile = ReferenceProfile.fit(reference, "m", fit, "v1", "0" * 16)
    assert profile.nulls == {}  # nothing calibrated
    judged = judging.judge_columns(day, reference, fit.drift, DriftConfig(threshold_mode="fixed"), profile, {})
    for column, result in judged.items():
        assert result.verdict.mode == "fixed" and result.drifted == (result.score >= fit.drift[column].threshold)


@pytest.mark.parametrize("task,metric", [(ModelTask.REGRESSION, "mape"),
                                         (ModelTask.BINARY_CLASSIFICATION, "precision")])
def test_every_reported_metric_is_judged_by_default_not_only_those_with_a_rule(task, metric):
    """A worsening of a metric without a rule (the defaults have f1 and roc_auc, or mae and r2) is found at its own
    band and minimum change, and a no-change day of the same size raises nothing."""
    scoring = Scoring(task=task, score="p", decision="d" if task is ModelTask.BINARY_CLASSIFICATION else None)
    fit = settings(scoring=scoring, specs={}, numerical=("x",), categorical=(), label="y")
    rng = np.random.default_rng(5)
    profile = ReferenceProfile.fit(labelled_world(task, 8_000, rng), "m", fit, "v1", "00000000000000a1")
    rules = metric_judging(task)
    found = {}
    for worse in (False, True):
        day = labelled_world(task, 3_000, rng, worse).rename(columns={"y": "label"})
        values = judging.metrics.figures(day, scoring).metrics
        found[worse] = {d.metric: d for d in judging.judge_metrics(values, profile.performance, rules, len(day),
                                                                   profile)}
    assert found[False] == {}
    assert metric in found[True], found[True]
    degraded = found[True][metric]
    assert degraded.verdict.fired and not degraded.retrain and "more than more than" not in degraded.limit
    assert degraded.limit.startswith("outside what no change gives on 3,000 labelled rows")


def correlated(n: int, rng: np.random.Generator, broken: bool = False) -> pd.DataFrame:
    """Three features that move together; `broken`: each keeps its own distribution, their relation is gone."""
    x = rng.normal(0, 1, n)
    y, z = x + rng.normal(0, 0.3, n), -x + rng.normal(0, 0.3, n)
    if broken:
        y, z = rng.permutation(y), rng.permutation(z)
    p = 1 / (1 + np.exp(-rng.normal(0, 1, n)))
    return pd.DataFrame({"x": x, "y": y, "z": z, "p": p, "d": (p >= 0.5).astype(int)})


def test_a_broken_correlation_is_multivariate_drift_where_no_feature_drifted():
    """Each feature keeps its marginal distribution, their joint one breaks: no feature drifts, the rows are
    reconstructed worse from the reference's principal components and the day's joint drift fires; a no-change day
    of the same size fires nothing."""
    from monitoring.config import DriftSpec

    specs = {c: DriftSpec(kind="numerical", method="wasserstein", threshold=0.1) for c in ("x", "y", "z", "p")}
    specs["d"] = DriftSpec(kind="categorical", method="jensenshannon", threshold=0.1)
    fit = settings(specs=specs, numerical=("x", "y", "z"), categorical=())
    rng = np.random.default_rng(9)
    reference = correlated(20_000, rng)
    profile = ReferenceProfile.fit(reference, "m", fit, "v1", "00000000000000b2")
    assert profile.multivariate is not None and profile.null("reconstruction_error") is not None
    drift = DriftConfig()
    for broken in (False, True):
        day = correlated(2_000, np.random.default_rng(10 + broken), broken)
        state = DayState(fit, profile).add(day)
        columns = judging.judge_columns(day, reference, specs, drift, profile, {})
        final, verdicts_of_day, _ = judging.judge_day(drift, MinimumChanges(), profile, columns,
                                                   state.operations(day), state.quality(), day)
        joint = verdicts_of_day.statistics["reconstruction_error"]
        assert not any(r.drifted for r in final.values()), (broken, {c: r.score for c, r in final.items()})
        assert joint.fired is broken, joint


@pytest.mark.parametrize(("metric", "value", "base", "limits", "retrain_limits", "alert", "retrain"), [
    ("f1", 0.76, 0.80, (0.05, None), None, False, False),
    ("f1", 0.74, 0.80, (0.05, None), None, True, False),
    ("f1", 0.70, 0.80, (None, 0.10), (None, 0.12), True, True),
    ("f1", 0.95, 0.80, (0.05, None), None, False, False),  # better is never degraded
    ("log_loss", 0.60, 0.50, (None, 0.10), None, True, False),  # lower is better: a rise is worse
    ("log_loss", 0.40, 0.50, (None, 0.10), None, False, False),
])
def test_fixed_mode_judges_a_metric_against_its_line_in_the_metric_s_direction(metric, value, base, limits,
                                                                                retrain_limits, alert, retrain):
    rules = metric_judging(ModelTask.BINARY_CLASSIFICATION, calibrated=False, rules={metric: limits})
    rules = rules.model_copy(update={"retrain_limits": {metric: retrain_limits} if retrain_limits else {}})
    found = judging.judge_metrics({metric: value}, {metric: base}, rules)
    assert bool(found) == alert
    if found:
        assert found[0].retrain == retrain
        assert f"{metric} {value:.3f} vs {base:.3f}" in found[0].describe()


def baseline_profile(baseline: dict) -> ReferenceProfile:
    """A reference profile with only a performance baseline (no bands: its metrics are judged by the lines)."""
    return ReferenceProfile(model="m", version="v1", fingerprint="0" * 16, rows=1000, numerical={}, categorical={},
                            operations=OperationalBaseline(mean_score=None, positive_rate=None, mean_confidence=None,
                                                           low_confidence_share=None),
                            performance=baseline, sample_rows=1000)


def test_a_day_with_too_few_labels_is_not_judged():
    scoring = Scoring(task=ModelTask.BINARY_CLASSIFICATION, score="p", decision="approved")
    rng = np.random.default_rng(0)
    p = rng.random(100)
    frame = pd.DataFrame({"p": p, "approved": (p >= 0.5).astype(int), "label": (rng.random(100) < p).astype(float)})
    rules = metric_judging(ModelTask.BINARY_CLASSIFICATION, calibrated=False, rules={"f1": (0.05, None)})
    few = judging.labelled_day(joined=frame.iloc[:40], predictions=100, scoring=scoring, judging=rules, lag_days=3,
                               day=DAY, as_of=DAY + dt.timedelta(days=3), fitted=baseline_profile({"f1": 1.0}),
                               label_digest="x")
    assert few.complete and few.coverage == 0.4 and few.degraded
    due = judging.due_day(few, DAY, min_coverage=0.5, min_labelled_rows=10)
    assert due.status == "too_few_labels" and due.degraded == []
    enough = few.model_copy(update={"labelled": 60, "coverage": 0.6})
    assert judging.due_day(enough, DAY, 0.5, 10).status == "judged"
    assert judging.due_day(None, DAY, 0.5, 10).status == "no_predictions"


def test_a_regressor_whose_labels_come_near_zero_has_its_mape_shown_but_not_judged():
    """MAPE divides by the label: where labels pass zero, one row near it moves a day's MAPE by any amount (the
    benchmark's regressor paged on MAPE on 9 of 200 no-change days of 5,000 rows). The fit gives such a reference
    no MAPE band and says why; a day with a label of 0.001 then raises nothing on MAPE while its MAE is judged as
    before. Labels bounded away from zero keep MAPE judged."""
    from monitoring.config import Scoring
    from monitoring.reference import ReferenceProfile
    from monitoring.vocabulary import LABEL, ModelTask
    from tests.world import judging as metric_judging
    from tests.world import settings

    scoring = Scoring(task=ModelTask.REGRESSION, score="prediction")
    fit = settings(scoring=scoring, specs={}, numerical=("x",), categorical=(), label="actual")
    rng = np.random.default_rng(4)

    def rows(n: int, centre: float) -> pd.DataFrame:
        x = rng.normal(0, 1, n)
        prediction = centre + 2 * x
        return pd.DataFrame({"x": x, "prediction": prediction, "actual": prediction + rng.normal(0, 1, n)})

    near_zero = ReferenceProfile.fit(rows(4_000, 4.0), "m", fit, "v1", "00000000000000c1")
    assert set(near_zero.unjudged) == {"mape"} and "near zero" in near_zero.unjudged["mape"]
    assert near_zero.null("metric:mape") is None and near_zero.null("metric:mae") is not None
    day = rows(300, 4.0).rename(columns={"actual": LABEL})
    day.loc[0, LABEL] = 0.001  # a percentage error of about 400,000%
    found = judging.labelled_day(joined=day, predictions=300, scoring=scoring,
                                 judging=metric_judging(ModelTask.REGRESSION), lag_days=1, day=dt.date(2026, 10, 5),
                                 as_of=dt.date(2026, 10, 6), fitted=near_zero, label_digest="-")
    assert found.metrics["mape"] > 5 * near_zero.performance["mape"] and [d.metric for d in found.degraded] == []
    assert set(found.unjudged) == {"mape"}
    away = ReferenceProfile.fit(rows(4_000, 40.0), "m", fit, "v1", "00000000000000c2")
    assert away.unjudged == {} and away.null("metric:mape") is not None
