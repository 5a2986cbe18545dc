"""The classes of a multiclass model, one by one: a class whose recall collapses is found even while the macro
figures, carried by the other classes, hold.

A class's recall on a day is the share of its labelled rows the model predicted as that class: `k` of `n`. Under no
change, `k` follows a binomial at the reference's recall, whose own uncertainty (the reference's `K` of `N`) widens
it: the day's `k` is drawn from the beta-binomial predictive (`n`, `K + 1/2`, `N - K + 1/2`), exact at any `n`,
skewed where the recall sits near 0 or 1, and its lower tail P(X <= k) is the chance of a recall this low or lower.
A class is collapsed when that tail is below the model's one-sided k-sigma tail shared among the classes
(Bonferroni: the classes are judged together every labelled day) and its recall fell by at least the rule's
`min_drop`: significance with a minimum effect, as every verdict here.
"""

from __future__ import annotations

import math

from monitoring.metrics import ClassFigures
from monitoring.verdicts import nominal_tail
from monitoring.vocabulary import Record


class ClassRecall(Record):
    """One class's recall on a labelled day against the reference's, and whether it collapsed."""

    label: str  # the class
    support: int  # the day's labelled rows of the class
    recall: float
    reference_recall: float
    reference_support: int
    tail: float  # the chance of a recall this low or lower under no change
    collapsed: bool

    def describe(self) -> str:
        chance = f"{self.tail:.2g}" if self.tail >= 1e-6 else "below one in a million"
        return (f"class {self.label!r}: recall {self.recall:.1%} of {self.support} labelled rows vs "
                f"{self.reference_recall:.1%} in the reference (chance under no change {chance})")


def judge_recalls(day: dict[str, ClassFigures], reference: dict[str, ClassFigures] | None, band_sigma: float,
                  min_drop: float, min_support: int) -> list[ClassRecall]:
    """Every class with at least `min_support` labelled rows on the day and some in the reference, judged."""
    from scipy.stats import betabinom

    if not reference:
        return []
    judged = [c for c, f in day.items() if f.support >= min_support and reference.get(c) and reference[c].support]
    line = nominal_tail(band_sigma) / max(1, len(day))
    found = []
    for label in judged:
        figures, base = day[label], reference[label]
        hits = round(figures.recall * figures.support)
        reference_hits = round(base.recall * base.support)
        tail = float(betabinom.cdf(hits, figures.support, reference_hits + 0.5,
                                   base.support - reference_hits + 0.5))
        collapsed = tail <= line and base.recall - figures.recall >= min_drop - 1e-12
        found.append(ClassRecall(label=label, support=figures.support, recall=figures.recall,
                                 reference_recall=base.recall, reference_support=base.support,
                                 tail=max(tail, math.ulp(0.0)), collapsed=collapsed))
    return found
