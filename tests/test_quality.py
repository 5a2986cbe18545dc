"""The labels of the day page's distribution bins: each edge readable and told apart from the next."""

from __future__ import annotations

import numpy as np

from monitoring.quality import edge_labels, reference_bins


def test_close_negative_edges_get_the_digits_that_tell_them_apart():
    # California housing's longitudes: most deciles within a few hundredths of a degree of -118.3
    edges = np.array([-122.41, -122.26, -121.98, -121.29, -119.56, -118.49, -118.37, -118.32, -118.24])
    assert edge_labels(edges) == ["-122.4", "-122.3", "-122", "-121.3", "-119.6", "-118.5", "-118.4", "-118.3",
                                  "-118.2"]
    assert edge_labels(np.array([-118.35, -118.32, -118.29])) == ["-118.35", "-118.32", "-118.29"]
    rng = np.random.default_rng(0)
    longitudes = np.concatenate([rng.normal(-118.3, 0.05, 6000), rng.normal(-122.2, 0.2, 4000)])
    _, labels = reference_bins(longitudes)
    assert all(len(set(label.split(" to "))) == 2 for label in labels[1:-1])  # never "-118 – -118"
    assert labels[5:8] == ["-118.35 to -118.32", "-118.32 to -118.3", "-118.3 to -118.28"]


def test_a_range_of_negatives_reads_lo_to_hi_and_the_open_ends_keep_their_signs():
    values = np.linspace(-118.35, -118.15, 1001)
    edges, labels = reference_bins(values)
    assert len(edges) == 9 and len(labels) == 10
    assert labels[0] == "≤ -118.33" and labels[-1] == "> -118.17"
    assert labels[1] == "-118.33 to -118.31"
    assert not any(" – " in label or " - -" in label for label in labels)


def test_three_significant_digits_when_they_suffice_and_thousands_separated():
    _, labels = reference_bins(np.arange(1, 10_001, dtype=float))
    assert labels[0] == "≤ 1,001" and labels[1] == "1,001 to 2,001" and labels[-1] == "> 9,000"
    _, small = reference_bins(np.linspace(0, 1, 101))
    assert small[0] == "≤ 0.1" and small[1] == "0.1 to 0.2"
