"""How far a performance metric's no-change band moves from one reference fit to the next, and what it does to the
detection of an F1 drop: the f1 band at a day's size over many fits, at the library's `replicates.REPLICATES` (50)
replicate days a size and at others (set here for the run only), against the truth measured on fresh days.

    .venv/bin/python -m benchmarks.band_spread truth                     # the day's true no-change spread (~3 min)
    .venv/bin/python -m benchmarks.band_spread fits --fits 5             # full profile fits at 25/50/100 (~3 min)
    .venv/bin/python -m benchmarks.band_spread nulls --fits 100 --replicates 25   # many fits of the metrics' nulls

- `truth`: fresh no-change days of the synthetic world (or days from a real dataset's held-out half) at several sizes:
  the mean and sd of (the day's f1 - the reference's) and roc_auc's; at the day's size, how the days of
  `false_alarms`' "F1 -3 points" change move f1 and roc_auc, and how often a no-change day falls past 3 sd.
- `fits`: `ReferenceProfile.fit` with fit seeds `--fit-seed`.. (the fingerprints of `false_alarms --fits`), at each
  `--replicates`: its time, the f1 null at the day's size (sd, mean, band's edge, fitted exponent, the points it
  rests on), and the days of the "F1 -3 points" change detected (`judging.judge_metrics`, the library's
  verdict; the first 30 days are `false_alarms`' own), with how many fell outside the band and past the minimum
  effect, and the no-change days (`--quiet`) that flag a degradation.
- `nulls`: only the metrics' null models (`replicates.calibrate` on the metrics alone: the same replicate days and
  the same f1 null as the full fit, checked by `--check`), over many fits: the spread of the sd and mean at the day's
  size and of the band's edge, the detection rate per fit, and what it would be with the level's mean weighted by
  the points' precision, or set to 0.
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
from scipy import stats

from benchmarks import false_alarms as fa
from monitoring import contract, judging, replicates
from monitoring import metrics as library_metrics
from monitoring.bands import NullModel
from monitoring.config import parse_config
from monitoring.reference import ReferenceProfile
from monitoring.vocabulary import statistic_name as null_name

CHANGE = "F1 -3 points"


def setup(name: str):
    data = {"synthetic": fa.synthetic, "employment": fa.employment, "housing": fa.housing}[name]()
    settings = {**data.settings, "drift": {"threshold_mode": "calibrated"}}
    model = parse_config({"models": {data.name: settings}}).model(data.name)
    return data, model, contract.prepare_reference(data.reference, model, "the benchmark's reference")


def arrays(frame, data):
    cols = data.settings["columns"]
    return (frame[data.settings["labels"]["column"]].to_numpy(dtype=int), frame[cols["score"]].to_numpy(dtype=float),
            frame[cols["decision"]].to_numpy(dtype=int))


def metrics(frame, data) -> dict[str, float | None]:
    return library_metrics.classification_metrics(*arrays(frame, data))


def changed_days(data, size: int, count: int, day_seed: int = 7) -> list[dict]:
    """The metrics of `false_alarms`' days of the change (its stream: its first days are the ones it judges)."""
    rng, apply = fa.stream(day_seed, size, CHANGE), fa.CHANGES[CHANGE][0]
    return [metrics(apply(data.day(size, rng), data, rng), data) for _ in range(count)]


def quiet_days(data, size: int, count: int, seed: int = 11) -> list[dict]:
    rng = fa.stream(seed, size, "band_spread no change")
    return [metrics(data.day(size, rng), data) for _ in range(count)]


def fingerprint_seed(name: str, fit: int) -> int:
    return int(fa.fingerprint(name, "calibrated", fit), 16) % 2**32


class Fitted:
    """What `performance.degradations` reads of a profile: its rows, baseline and metric nulls."""

    def __init__(self, rows: int, baseline: dict, nulls: dict[str, NullModel]) -> None:
        self.rows, self.performance, self.nulls = rows, baseline, nulls

    def null(self, name: str) -> NullModel | None:
        return self.nulls.get(name)


def detected(days: list[dict], fitted, model, size: int) -> list[bool]:
    return [bool(judging.judge_metrics(m, fitted.performance, model.metric_judging, size, fitted)) for m in days]


def part_truth(args) -> None:
    data, model, typed = setup(args.dataset)
    ref = metrics(typed, data)
    print(f"{data.name}: reference f1 {ref['f1']:.4f}, roc_auc {ref['roc_auc']:.4f} ({len(typed):,} rows)"
          + (f"; the day pool's f1 {metrics(data.pool, data)['f1']:.4f} ({len(data.pool):,} rows)"
             if data.pool is not None else ""))
    for size in (int(s) for s in args.sizes.split(",")):
        if data.pool is not None and size > len(data.pool):
            continue
        days = quiet_days(data, size, args.days)
        f1 = np.array([m["f1"] - ref["f1"] for m in days])
        roc = np.array([m["roc_auc"] - ref["roc_auc"] for m in days])
        past = int(np.sum(f1 < f1.mean() - 3 * f1.std(ddof=1)))
        print(f"  {size:>6,} rows, {args.days} no-change days: f1 change mean {f1.mean():+.5f} sd {f1.std(ddof=1):.5f} "
              f"(+-{f1.std(ddof=1) / math.sqrt(2 * (len(f1) - 1)):.5f}), skew {stats.skew(f1):+.2f}, below mean - 3 sd "
              f"{past} (normal: {args.days * stats.norm.cdf(-3):.1f}); roc_auc change mean {roc.mean():+.5f} sd "
              f"{roc.std(ddof=1):.5f}", flush=True)
    days = changed_days(data, args.size, args.changed)
    f1 = np.array([m["f1"] - ref["f1"] for m in days])
    roc = np.array([m["roc_auc"] - ref["roc_auc"] for m in days])
    print(f"  {args.size:,} rows, {args.changed} days of '{CHANGE}': f1 change mean {f1.mean():+.5f} sd {f1.std():.5f} "
          f"(past -0.02 on {np.mean(f1 <= -0.02):.1%}); roc_auc change mean {roc.mean():+.5f} sd {roc.std():.5f}")
    if data.pool is None:
        world = metrics(fa._world(2_000_000, np.random.default_rng(12345)), data)
        print(f"  the world's f1 (2,000,000 fresh rows) {world['f1']:.5f}: the reference's is "
              f"{ref['f1'] - world['f1']:+.5f} from it")


def part_fits(args) -> None:
    data, model, typed = setup(args.dataset)
    days, quiet = changed_days(data, args.size, args.days), quiet_days(data, args.size, args.quiet)
    k = model.drift.band_sigma
    for count in (int(r) for r in args.replicates.split(",")):
        replicates.REPLICATES = count
        for fit in range(args.fit_seed, args.fit_seed + args.fits):
            started = time.monotonic()
            fitted = ReferenceProfile.fit(typed, model.name, model.fit_settings, "v1",
                                           fa.fingerprint(data.name, "calibrated", fit), salt=fit)
            seconds = time.monotonic() - started
            null = fitted.null(null_name("metric", "f1"))
            sd, mean = null.sd(args.size), null.mean(args.size)
            changes = [m["f1"] - fitted.performance["f1"] for m in days]
            outside = sum(c < mean - k * sd for c in changes)
            both = sum(c < mean - k * sd and -c >= model.min_drop("f1")[0] for c in changes)
            fired = detected(days, fitted, model, args.size)
            false = sum(detected(quiet, fitted, model, args.size))
            points = " ".join(f"{p.size}:{p.sd:.4f}" for p in null.points)
            print(f"REPLICATES={count:>3} fit {fit}: fitted in {seconds:4.1f} s; f1 at {args.size:,}: sd {sd:.5f} "
                  f"mean {mean:+.5f} edge {mean - k * sd:+.5f} (n_eff^{null.sd_fit[1]:+.3f}; sd on "
                  f"{null.points[0].replicates} days at {points}); detected {sum(fired)}/{len(days)} "
                  f"({100 * sum(fired) / len(days):.0f}%; the first 30: {sum(fired[:30])}/30), outside the band "
                  f"{outside}, and past the min effect {both}; no-change days flagged {false}/{len(quiet)}", flush=True)


def metric_statistics(typed, data, model):
    """The metrics' statistics of a replicate day (as `replicates.RowValues`, the metrics alone)."""
    y, p, yhat = arrays(typed, data)

    def statistics(day, reference):
        mine = library_metrics.classification_metrics(y[day], p[day], yhat[day])
        theirs = library_metrics.classification_metrics(y[reference], p[reference], yhat[reference])
        return {null_name("metric", m): mine[m] - theirs[m] for m in model.judged_metrics
                if mine[m] is not None and theirs[m] is not None}

    return statistics, {null_name("metric", m): "level" for m in model.judged_metrics}


def precision_mean(null: NullModel) -> float:
    """The points' means weighted by their precision (replicates / sd^2), not by their replicates alone."""
    return float(np.average([p.mean for p in null.points], weights=[p.replicates / p.sd ** 2 for p in null.points]))


def with_mean(null: NullModel, mean: float) -> NullModel:
    return null.model_copy(update={"mean_fit": (mean, 0.0)})


def _range(values, unit: str = "%", digits: int = 0) -> str:
    values = np.asarray(values)
    q5, q50, q95 = np.percentile(values, [5, 50, 95])
    return (f"median {q50:.{digits}f}{unit}, 5-95% {q5:.{digits}f} to {q95:.{digits}f}{unit}, min-max "
            f"{values.min():.{digits}f} to {values.max():.{digits}f}{unit}")


def part_nulls(args) -> None:
    data, model, typed = setup(args.dataset)
    statistics, kinds = metric_statistics(typed, data, model)
    rows, compared, size = len(typed), min(len(typed), model.reports.max_rows), args.size
    baseline = metrics(typed, data)
    days = changed_days(data, size, args.days)
    if args.check:
        replicates.REPLICATES = 25
        alone = replicates.calibrate(rows, compared, statistics, kinds, seed=fingerprint_seed(data.name, 0))
        fitted = ReferenceProfile.fit(typed, model.name, model.fit_settings, "v1",
                                       fa.fingerprint(data.name, "calibrated", 0), salt=0)
        print(f"check: the metrics alone give the full fit's f1 null: {alone['metric:f1'] == fitted.null('metric:f1')};"
              f" days detected {sum(detected(days, Fitted(rows, baseline, alone), model, size))} and "
              f"{sum(detected(days, fitted, model, size))} of {len(days)}")
    for count in (int(r) for r in args.replicates.split(",")):
        replicates.REPLICATES = count
        sds, means, seconds, points = [], [], 0.0, {}
        rates: dict[str, list[float]] = {"the library's mean": [], "a precision-weighted mean": [], "mean 0": []}
        for fit in range(args.fit_seed, args.fit_seed + args.fits):
            started = time.monotonic()
            nulls = replicates.calibrate(rows, compared, statistics, kinds, seed=fingerprint_seed(data.name, fit))
            seconds += time.monotonic() - started
            null = nulls["metric:f1"]
            sds.append(null.sd(size))
            means.append(null.mean(size))
            for p in null.points:
                points.setdefault(p.size, []).append(p)
            weighted = {n: with_mean(m, precision_mean(m)) for n, m in nulls.items()}
            for name, found in (("the library's mean", nulls), ("a precision-weighted mean", weighted),
                                ("mean 0", {n: with_mean(m, 0.0) for n, m in nulls.items()})):
                rates[name].append(100 * np.mean(detected(days, Fitted(rows, baseline, found), model, size)))
        sds, means = np.array(sds), np.array(means)
        edges = means - model.drift.band_sigma * sds
        truth = f" (the truth: {args.truth:.5f}; mean {sds.mean() / args.truth - 1:+.1%})" if args.truth else ""
        print(f"REPLICATES={count}, {args.fits} fits ({seconds / args.fits:.1f} s each, the metrics alone): "
              f"f1 at {size:,} rows: sd mean {sds.mean():.5f}{truth}, cv {sds.std() / sds.mean():.1%}, "
              f"{_range(sds, '', 5)}; mean: mean {means.mean():+.5f}, sd {means.std():.5f}; band's edge "
              f"{_range(edges, '', 4)}, sd {edges.std():.4f} (3 sd's spread {3 * sds.std():.4f}, the mean's "
              f"{means.std():.4f})", flush=True)
        for name, found in rates.items():
            print(f"    {CHANGE} detected ({len(days)} days), {name}: {_range(found)}, mean {np.mean(found):.1f}%",
                  flush=True)
        for at, found in sorted(points.items()):
            sd = np.array([p.sd for p in found])
            carried = sd.mean() * math.sqrt(found[0].n_eff / (size * compared / (size + compared)))
            print(f"    measured at {at:>6,} rows (n_eff {found[0].n_eff:,.0f}, {found[0].how}): sd mean "
                  f"{sd.mean():.5f}, cv {sd.std() / sd.mean():.1%} (as n_eff^-1/2 at {size:,}: {carried:.5f}); "
                  f"its mean's sd across fits {np.std([p.mean for p in found]):.5f}", flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("part", choices=["truth", "fits", "nulls"])
    parser.add_argument("--dataset", default="synthetic")
    parser.add_argument("--size", type=int, default=5_000, help="the day's rows")
    parser.add_argument("--sizes", default="100,300,1000,3000,5000,10000", help="truth: the sizes measured")
    parser.add_argument("--days", type=int, help="days: no-change (truth; 4,000) or of the change (fits, nulls; 300)")
    parser.add_argument("--changed", type=int, default=300, help="truth: days of the change")
    parser.add_argument("--quiet", type=int, default=2_000, help="fits: no-change days judged by each fit")
    parser.add_argument("--fits", type=int, default=5)
    parser.add_argument("--fit-seed", type=int, default=0)
    parser.add_argument("--replicates", default="25,50,100")
    parser.add_argument("--truth", type=float, help="nulls: the true sd at the day's size, to compare with")
    parser.add_argument("--check", action="store_true", help="nulls: the metrics alone give the full fit's null")
    args = parser.parse_args(argv)
    args.days = args.days if args.days is not None else (4_000 if args.part == "truth" else 300)
    {"truth": part_truth, "fits": part_fits, "nulls": part_nulls}[args.part](args)


if __name__ == "__main__":
    main()
