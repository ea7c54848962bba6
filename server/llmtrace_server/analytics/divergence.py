"""Distances between two binned distributions: PSI, Jensen-Shannon, KS, chi-square, L-infinity.

Inputs are raw counts over the same bins (ClickHouse aggregates them; these functions only score
a few dozen numbers). Probabilities for PSI and JS are smoothed with +0.5 per bin so empty bins do
not produce infinities; KS, L-infinity and chi-square use the raw counts.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from llmtrace_server.analytics.distributions import chi2_sf, kolmogorov_sf

SMOOTHING = 0.5


def smoothed(counts: Sequence[float], alpha: float = SMOOTHING) -> list[float]:
    """Probabilities with additive smoothing: (c + alpha) / (N + alpha * B)."""
    total = sum(counts) + alpha * len(counts)
    return [(c + alpha) / total for c in counts]


def psi(reference: Sequence[float], current: Sequence[float]) -> float:
    """Population Stability Index, sum (q - p) * ln(q / p), on smoothed probabilities."""
    _check(reference, current)
    p, q = smoothed(reference), smoothed(current)
    return sum((b - a) * math.log(b / a) for a, b in zip(p, q, strict=True))


def js_distance(reference: Sequence[float], current: Sequence[float]) -> float:
    """Jensen-Shannon distance (square root of the divergence), base 2, so it lies in [0, 1]."""
    _check(reference, current)
    p, q = smoothed(reference), smoothed(current)
    div = 0.0
    for a, b in zip(p, q, strict=True):
        m = (a + b) / 2.0
        div += 0.5 * a * math.log2(a / m) + 0.5 * b * math.log2(b / m)
    return math.sqrt(max(0.0, div))


def l_inf(reference: Sequence[float], current: Sequence[float]) -> float:
    """Largest absolute difference between the two (unsmoothed) category shares."""
    _check(reference, current)
    n_r, n_c = sum(reference), sum(current)
    if n_r == 0 or n_c == 0:
        return math.nan
    return max(abs(r / n_r - c / n_c) for r, c in zip(reference, current, strict=True))


@dataclass(frozen=True, slots=True)
class TestResult:
    """A test statistic and its p-value (``df`` only for chi-square)."""

    statistic: float
    p_value: float
    df: int | None = None


def ks_from_counts(reference: Sequence[float], current: Sequence[float]) -> TestResult:
    """Two-sample Kolmogorov-Smirnov on binned data with the asymptotic p-value.

    D is the largest gap between the two empirical CDFs at the bin edges, a lower bound of the
    D on raw values (so the p-value is conservative). p = Q_K(sqrt(n m / (n + m)) * D).
    """
    _check(reference, current)
    n_r, n_c = sum(reference), sum(current)
    if n_r == 0 or n_c == 0:
        return TestResult(math.nan, math.nan)
    d = cr = cc = 0.0
    for r, c in zip(reference, current, strict=True):
        cr += r
        cc += c
        d = max(d, abs(cr / n_r - cc / n_c))
    en = n_r * n_c / (n_r + n_c)
    return TestResult(d, kolmogorov_sf(math.sqrt(en) * d))


def chi_square(reference: Sequence[float], current: Sequence[float]) -> TestResult:
    """Pearson chi-square test of homogeneity on the 2 x B table (no continuity correction).

    Bins empty in both samples are dropped (they carry no information and no degree of freedom).
    """
    _check(reference, current)
    pairs = [(r, c) for r, c in zip(reference, current, strict=True) if r + c > 0]
    n_r, n_c = sum(r for r, _ in pairs), sum(c for _, c in pairs)
    if len(pairs) < 2 or n_r == 0 or n_c == 0:
        return TestResult(0.0, 1.0, 0)
    total = n_r + n_c
    stat = 0.0
    for r, c in pairs:
        e_r, e_c = (r + c) * n_r / total, (r + c) * n_c / total
        stat += (r - e_r) ** 2 / e_r + (c - e_c) ** 2 / e_c
    df = len(pairs) - 1
    return TestResult(stat, chi2_sf(stat, df), df)


def merge_sparse(
    keys: Sequence[int], reference: Sequence[float], current: Sequence[float], target_bins: int = 10
) -> tuple[list[tuple[int, int]], list[float], list[float]]:
    """Merge neighbouring histogram buckets into about ``target_bins`` bins of similar mass.

    Bucket boundaries are chosen on the pooled counts (reference + current), so neither window
    decides the bins alone; each output bin spans an inclusive range of input keys. Fewer bins
    than ``target_bins`` come out when the mass sits in fewer buckets. Scoring ~10 bins instead of
    ~35 keeps the null PSI small (it grows with bins - 1).
    """
    order = sorted(range(len(keys)), key=lambda i: keys[i])
    total = sum(reference) + sum(current)
    ranges: list[tuple[int, int]] = []
    ref_out: list[float] = []
    cur_out: list[float] = []
    if total == 0:
        return ranges, ref_out, cur_out
    per_bin = total / target_bins
    start: int | None = None
    acc_r = acc_c = 0.0
    for pos, i in enumerate(order):
        if start is None:
            start = keys[i]
        acc_r += reference[i]
        acc_c += current[i]
        if acc_r + acc_c >= per_bin or pos == len(order) - 1:
            ranges.append((start, keys[i]))
            ref_out.append(acc_r)
            cur_out.append(acc_c)
            start, acc_r, acc_c = None, 0.0, 0.0
    # A thin last bin (the leftovers of the tail) joins its neighbour.
    if len(ranges) > 1 and ref_out[-1] + cur_out[-1] < per_bin / 2:
        # Pop before indexing: ``x[-2] += x.pop()`` stores into x[-2] after the pop, which is
        # out of range when only two bins were left.
        _, last_end = ranges.pop()
        last_r, last_c = ref_out.pop(), cur_out.pop()
        ranges[-1] = (ranges[-1][0], last_end)
        ref_out[-1] += last_r
        cur_out[-1] += last_c
    return ranges, ref_out, cur_out


def log_bucket_bounds(key: int, scale: float = 1.0) -> tuple[float, float]:
    """Value range [2^(b/4), 2^((b+1)/4)) of rollup bucket ``b`` (bucket 0 also holds values < 1)."""
    low = 0.0 if key == 0 else 2.0 ** (key / 4.0)
    return low * scale, 2.0 ** ((key + 1) / 4.0) * scale


def _check(a: Sequence[float], b: Sequence[float]) -> None:
    if len(a) != len(b):
        raise ValueError("both distributions need the same bins")
    if not a:
        raise ValueError("no bins")
