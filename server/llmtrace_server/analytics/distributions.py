"""Distribution functions needed by the tests, in pure Python.

scipy is a dev dependency only (the server must stay light), so the few CDFs the analytics need
live here: normal (via ``math.erfc`` and the stdlib's AS241 inverse), Student's t via the
regularized incomplete beta function, chi-square via the regularized incomplete gamma function,
and the Kolmogorov distribution. Accuracy is ~1e-10 relative in the ranges we use; the golden
tests in ``tests/analytics`` compare every function with scipy.
"""

from __future__ import annotations

import math
from statistics import NormalDist

_STD_NORMAL = NormalDist()
_EPS = 1e-15
_TINY = 1e-300
_MAX_ITER = 500


def norm_cdf(z: float) -> float:
    """P(Z <= z) for a standard normal Z (accurate in both tails)."""
    return 0.5 * math.erfc(-z / math.sqrt(2.0))


def norm_sf(z: float) -> float:
    """P(Z > z) for a standard normal Z."""
    return 0.5 * math.erfc(z / math.sqrt(2.0))


def norm_ppf(p: float) -> float:
    """The standard normal quantile (inverse CDF)."""
    if not 0.0 < p < 1.0:
        raise ValueError("p must be in (0, 1)")
    return _STD_NORMAL.inv_cdf(p)


def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the incomplete beta function (modified Lentz)."""
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > _TINY else _TINY)
    h = d
    for m in range(1, _MAX_ITER):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > _TINY else _TINY)
        c = 1.0 + aa / c if abs(1.0 + aa / c) > _TINY else _TINY
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > _TINY else _TINY)
        c = 1.0 + aa / c if abs(1.0 + aa / c) > _TINY else _TINY
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < _EPS:
            break
    return h


def betainc(a: float, b: float, x: float, y: float | None = None) -> float:
    """Regularized incomplete beta function I_x(a, b).

    ``y`` may pass 1 - x computed without cancellation (it matters when x is within 1e-8 of 1).
    """
    y = 1.0 - x if y is None else y
    if x <= 0.0:
        return 0.0
    if y <= 0.0:
        return 1.0
    log_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log(y)
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(log_front) * _betacf(a, b, x) / a
    return 1.0 - math.exp(log_front) * _betacf(b, a, y) / b


def t_sf(t: float, df: float) -> float:
    """P(T > t) for Student's t with ``df`` degrees of freedom (df may be fractional: Welch)."""
    if math.isinf(df):
        return norm_sf(t)
    tail = 0.5 * _t_tail_mass(t, df)
    return tail if t >= 0 else 1.0 - tail


def t_two_sided_p(t: float, df: float) -> float:
    """Two-sided p-value of a t statistic."""
    if math.isinf(df):
        return 2.0 * norm_sf(abs(t))
    return _t_tail_mass(t, df)


def _t_tail_mass(t: float, df: float) -> float:
    """P(|T| > |t|) = I_x(df/2, 1/2) with x = df/(df+t^2), passing 1 - x exactly."""
    t2 = t * t
    return betainc(df / 2.0, 0.5, df / (df + t2), t2 / (df + t2))


def t_ppf(p: float, df: float) -> float:
    """Student's t quantile, by bisection on the CDF (monotone, so robust)."""
    if not 0.0 < p < 1.0:
        raise ValueError("p must be in (0, 1)")
    if math.isinf(df):
        return norm_ppf(p)
    lo, hi = -1.0, 1.0
    while 1.0 - t_sf(lo, df) > p:
        lo *= 2.0
    while 1.0 - t_sf(hi, df) < p:
        hi *= 2.0
    for _ in range(200):
        mid = (lo + hi) / 2.0
        if 1.0 - t_sf(mid, df) < p:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-12 * max(1.0, abs(mid)):
            break
    return (lo + hi) / 2.0


def gammaincc(a: float, x: float) -> float:
    """Regularized upper incomplete gamma function Q(a, x)."""
    if x <= 0.0:
        return 1.0
    log_front = -x + a * math.log(x) - math.lgamma(a)
    if x < a + 1.0:  # series for P(a, x), converges fast here
        term = total = 1.0 / a
        ap = a
        for _ in range(_MAX_ITER * 10):
            ap += 1.0
            term *= x / ap
            total += term
            if abs(term) < abs(total) * _EPS:
                break
        return max(0.0, 1.0 - total * math.exp(log_front))
    b = x + 1.0 - a  # continued fraction for Q(a, x) (modified Lentz)
    c = 1.0 / _TINY
    d = 1.0 / b
    h = d
    for i in range(1, _MAX_ITER * 10):
        an = -i * (i - a)
        b += 2.0
        d = an * d + b
        d = 1.0 / (d if abs(d) > _TINY else _TINY)
        c = b + an / c
        c = c if abs(c) > _TINY else _TINY
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < _EPS:
            break
    return math.exp(log_front) * h


def chi2_sf(x: float, df: float) -> float:
    """P(X > x) for a chi-square variable with ``df`` degrees of freedom."""
    if df <= 0:
        raise ValueError("df must be positive")
    return gammaincc(df / 2.0, x / 2.0)


def chi2_ppf(p: float, df: float) -> float:
    """Chi-square quantile (bisection on the survival function)."""
    if not 0.0 < p < 1.0:
        raise ValueError("p must be in (0, 1)")
    lo, hi = 0.0, max(1.0, df)
    while 1.0 - chi2_sf(hi, df) < p:
        hi *= 2.0
    for _ in range(200):
        mid = (lo + hi) / 2.0
        if 1.0 - chi2_sf(mid, df) < p:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-12 * max(1.0, mid):
            break
    return (lo + hi) / 2.0


def kolmogorov_sf(lam: float) -> float:
    """P(K > lam) for the Kolmogorov distribution (the limit of sqrt(n) * D_n).

    Uses the alternating series for large ``lam`` and the Jacobi-theta form for small ``lam``,
    where the alternating series converges slowly.
    """
    if lam <= 0.0:
        return 1.0
    if lam < 1.0:
        # P(K <= lam) = sqrt(2 pi) / lam * sum_k exp(-(2k-1)^2 pi^2 / (8 lam^2))
        s = 0.0
        for k in range(1, 50):
            term = math.exp(-((2 * k - 1) ** 2) * math.pi**2 / (8.0 * lam * lam))
            s += term
            if term < 1e-18:
                break
        return 1.0 - math.sqrt(2.0 * math.pi) / lam * s
    s = 0.0
    for k in range(1, 100):
        term = math.exp(-2.0 * k * k * lam * lam)
        s += term if k % 2 else -term
        if term < 1e-18:
            break
    return min(1.0, max(0.0, 2.0 * s))
