"""Segments (issue 26): is a change confined to one segment found there, and only there?

    .venv/bin/python -m benchmarks.segments                  # 100 changed and 100 no-change days of 4,000 rows (~3 min)
    .venv/bin/python -m benchmarks.segments --days 200 --no-change 0 --shift 0.5
    .venv/bin/python -m benchmarks.segments --flip 0.1      # labels flipped inside the segment: segment_performance

The synthetic world of `benchmarks.false_alarms` with its extra logged column `channel` (20 values, the model does not
use it; ch00 holds 10% of the rows, the 19 others 4.7% each) and `segments: {columns: [channel]}` (the default
`max_per_column` of 20: 20 segments, 19 values and "(other values)", each judged on its share and on the drift of the
10 features, the score and the decision inside it). The reference is fitted once (calibrated, fit seed 0).

On each **changed day** (`--days`, `--rows`), the numerical feature `normal` is shifted by `--shift` standard
deviations of the reference (0.8) in the rows of channel=ch00 only: about 0.08 sd over the whole day. Each day goes
through the library's path as in `benchmarks.false_alarms` (`Judge.findings`: contract, `DayState` with the segments'
tally, `judge_columns`, `judge_day` with the segments in the day's one family, `summarize`, the rules). Printed:

- the share of days on which a `segment_drift` finding names channel=ch00 (and names `normal`);
- the share of days on which another segment is flagged (any segment finding about another segment: its drift, its
  share, a new or vanished segment): the largest share of any one segment, and of days with any;
- the share of days on which the whole day's `feature_drift` or `dataset_drift` fired, and any other finding.

The same counts on `--no-change` days of the same size (no shift): the baseline of the "other segments" figures.

With `--flip P`, the changed days keep their inputs and scores and have a share P of channel=ch00's labels flipped
(the outcome changed there, the model did not): its F1 falls, and the counts are of `segment_performance` (the due
day's headline metric inside each segment, `judging.labelled_day`) instead of `segment_drift`. The flip draws from
a generator seeded by the day's own rows, so a run is deterministic too.

**Deterministic**: the days come from `false_alarms.stream(--day-seed, rows, name)`, the fit from its fingerprint.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from benchmarks.false_alarms import SEGMENT_RULES, Dataset, Judge, stream, synthetic, with_segments

TARGET = "channel=ch00"
FEATURE = "normal"


def shift_inside(sd: float, segment: str = TARGET, feature: str = FEATURE):
    """The change: `feature` moved by `sd` reference standard deviations in the rows of `segment` (column=value)."""
    column, value = segment.split("=", 1)

    def apply(frame: pd.DataFrame, data: Dataset) -> pd.DataFrame:
        frame = frame.copy()
        inside = frame[column] == value
        frame.loc[inside, feature] = frame.loc[inside, feature] + sd * data.reference[feature].std()
        return frame
    return apply


def flip_inside(share: float, segment: str = TARGET):
    """The change: a `share` of the labels flipped in the rows of `segment` (the model as it was, the world's outcome
    changed there): the segment's F1 falls, its inputs and scores do not move."""
    column, value = segment.split("=", 1)

    def apply(frame: pd.DataFrame, data: Dataset) -> pd.DataFrame:
        frame = frame.copy()
        rng = np.random.default_rng(len(frame) + int(frame["normal"].iloc[0] * 1e6) % 2**32)
        flip = (frame[column] == value).to_numpy() & (rng.random(len(frame)) < share)
        frame.loc[flip, "label"] = 1 - frame.loc[flip, "label"]
        return frame
    return apply


@dataclass
class Counts:
    days: int = 0
    named: int = 0  # a finding of the rule measured (segment_drift; segment_performance with --flip) names the target
    named_feature: int = 0  # ... and the shifted feature
    target_any: int = 0  # any segment finding about the target segment
    others: Counter = field(default_factory=Counter)  # segment -> days flagged (a segment finding about it)
    others_any: int = 0  # days on which another segment is flagged
    other_findings: Counter = field(default_factory=Counter)  # "segment: rule [columns]" -> days
    day_drift: int = 0  # feature_drift or dataset_drift fired
    other_rules: Counter = field(default_factory=Counter)  # non-segment rules -> days
    overall_shift: list[float] = field(default_factory=list)  # the feature's whole-day mean shift, in reference sd
    seconds: float = 0.0


def count(judge: Judge, data: Dataset, rows: int, days: int, name: str, change, day_seed: int,
          rule: str = "segment_drift") -> Counts:
    started = time.monotonic()
    found = Counts()
    rng = stream(day_seed, rows, name)
    sd, mean = data.reference[FEATURE].std(), data.reference[FEATURE].mean()
    for _ in range(days):
        frame = data.day(rows, rng)
        if change is not None:
            frame = change(frame, data)
        found.overall_shift.append((frame[FEATURE].mean() - mean) / sd)
        findings = judge.findings(frame)
        found.days += 1
        named = [f for f in findings if f.rule == rule and f.segment == TARGET]
        found.named += bool(named)
        found.named_feature += any(FEATURE in f.columns for f in named)
        found.target_any += any(f.rule in SEGMENT_RULES and f.segment == TARGET for f in findings)
        others = {f.segment for f in findings if f.rule in SEGMENT_RULES and f.segment != TARGET}
        found.others.update(others)
        found.others_any += bool(others)
        found.other_findings.update({f"{f.segment}: {f.rule}" + (f" {','.join(f.columns)}" if f.columns else "")
                                     for f in findings if f.rule in SEGMENT_RULES and f.segment != TARGET})
        found.day_drift += any(f.rule in ("feature_drift", "dataset_drift") for f in findings)
        found.other_rules.update({f.rule for f in findings if f.rule not in SEGMENT_RULES})
    found.seconds = time.monotonic() - started
    return found


def _pct(part: int, whole: int) -> str:
    return f"{part}/{whole} ({100 * part / whole:.1f}%)" if whole else "-"


def report(label: str, found: Counts, segments: int, out, rule: str = "segment_drift") -> None:
    top = found.others.most_common(1)
    print(f"  {label}: {found.days} days of {ROWS_TEXT} ({found.seconds:.0f} s); the feature's whole-day mean shift "
          f"{np.mean(found.overall_shift):+.3f} sd on average", file=out)
    naming = f", naming {FEATURE}: {_pct(found.named_feature, found.days)}" if rule == "segment_drift" else ""
    print(f"    {rule} names {TARGET}: {_pct(found.named, found.days)}{naming}; any segment finding about {TARGET}: "
          f"{_pct(found.target_any, found.days)}", file=out)
    worst = f"{top[0][0]} on {_pct(top[0][1], found.days)}" if top else f"none: 0/{found.days} (0.0%)"
    print(f"    another segment flagged (of the {segments - 1} others): on {_pct(found.others_any, found.days)}; the "
          f"most flagged one: {worst}" + (f"; all: {dict(found.other_findings.most_common())}" if found.others
                                          else ""),
          file=out)
    print(f"    the whole day's feature_drift or dataset_drift: {_pct(found.day_drift, found.days)}; other rules: "
          f"{dict(sorted(found.other_rules.items())) or 'none'}", file=out, flush=True)


ROWS_TEXT = ""


def main(argv: list[str] | None = None) -> int:
    global ROWS_TEXT
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=4_000, help="rows a day (default 4,000)")
    parser.add_argument("--days", type=int, default=100, help="changed days (default 100)")
    parser.add_argument("--no-change", type=int, default=100, help="no-change days of the same size (default 100)")
    parser.add_argument("--shift", type=float, default=0.8, help="the shift inside the segment, in sd (default 0.8)")
    parser.add_argument("--flip", type=float, help="instead of the shift: flip this share of channel=ch00's labels "
                                                   "(its F1 falls; segment_performance is counted)")
    parser.add_argument("--fit-seed", type=int, default=0)
    parser.add_argument("--day-seed", type=int, default=7)
    args = parser.parse_args(argv)
    ROWS_TEXT = f"{args.rows:,} rows"
    import evidently  # noqa: F401 - imported once, up front (seconds)

    data = with_segments(synthetic(segments=True))
    judge = Judge(data, "calibrated", args.fit_seed)
    fit = judge.fitted.segments
    share = fit.baselines[TARGET].share
    print(f"synthetic, calibrated: {len(data.reference):,} reference rows, {judge.segments} segments of channel, "
          f"{len(fit.columns)} columns judged in each; {TARGET} holds {share:.1%} of the reference; fitted in "
          f"{judge.fit_seconds:.1f} s (fit seed {args.fit_seed})", flush=True)
    if args.flip is not None:
        rule, name, label, change = ("segment_performance", f"segment flip {args.flip:g}",
                                     f"{args.flip:.0%} of the labels flipped inside {TARGET}", flip_inside(args.flip))
    else:
        rule, name, label, change = ("segment_drift", f"segment shift {args.shift:g} sd",
                                     f"{FEATURE} +{args.shift:g} sd inside {TARGET}", shift_inside(args.shift))
    changed = count(judge, data, args.rows, args.days, name, change, args.day_seed, rule)
    report(label, changed, judge.segments, sys.stdout, rule)
    if args.no_change:
        baseline = count(judge, data, args.rows, args.no_change, "segments no change", None, args.day_seed, rule)
        report("no change", baseline, judge.segments, sys.stdout, rule)
    return 0


if __name__ == "__main__":
    sys.exit(main())
