"""Golden tests: every statistic equals scipy's / numpy's on fixed data."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats
from scipy.spatial.distance import jensenshannon

from llmtrace_server.analytics import distributions as d
from llmtrace_server.analytics import divergence as dv
from llmtrace_server.analytics import multiple, power, stratified, twosample

RNG = np.random.default_rng(20260101)
A = RNG.lognormal(6.9, 0.6, 400)
B = RNG.lognormal(7.0, 0.6, 300)


@pytest.mark.parametrize("z", [-8.0, -2.5, -0.3, 0.0, 1.0, 3.7, 9.0])
def test_normal(z: float) -> None:
    assert d.norm_cdf(z) == pytest.approx(stats.norm.cdf(z), rel=1e-12, abs=1e-300)
    assert d.norm_sf(z) == pytest.approx(stats.norm.sf(z), rel=1e-12, abs=1e-300)


@pytest.mark.parametrize("p", [1e-6, 0.025, 0.5, 0.9, 0.995])
def test_quantiles(p: float) -> None:
    assert d.norm_ppf(p) == pytest.approx(stats.norm.ppf(p), rel=1e-9)
    for df in (1, 3.5, 30, 1234.5):
        assert d.t_ppf(p, df) == pytest.approx(stats.t.ppf(p, df), rel=1e-8)
    for df in (1, 9, 34, 200):
        assert d.chi2_ppf(p, df) == pytest.approx(stats.chi2.ppf(p, df), rel=1e-8)


@pytest.mark.parametrize("df", [1, 2.3, 7, 45.5, 900, 1e6])
@pytest.mark.parametrize("t", [-40.0, -3.0, -0.1, 0.0, 0.7, 2.2, 12.0])
def test_student_t(df: float, t: float) -> None:
    assert d.t_sf(t, df) == pytest.approx(stats.t.sf(t, df), rel=1e-9, abs=1e-300)
    assert d.t_two_sided_p(t, df) == pytest.approx(2 * stats.t.sf(abs(t), df), rel=1e-9, abs=1e-300)


@pytest.mark.parametrize("df", [1, 2, 5, 9, 34, 120])
@pytest.mark.parametrize("x", [0.01, 0.5, 3.0, 9.5, 30.0, 150.0, 600.0])
def test_chi2(df: int, x: float) -> None:
    assert d.chi2_sf(x, df) == pytest.approx(stats.chi2.sf(x, df), rel=1e-9, abs=1e-300)


@pytest.mark.parametrize("lam", [0.05, 0.3, 0.6, 0.99, 1.0, 1.36, 2.0, 4.0])
def test_kolmogorov(lam: float) -> None:
    assert d.kolmogorov_sf(lam) == pytest.approx(stats.kstwobign.sf(lam), rel=1e-9, abs=1e-300)


def _hist() -> tuple[list[float], list[float]]:
    edges = np.quantile(np.concatenate([A, B]), np.linspace(0, 1, 11))
    edges[0], edges[-1] = -np.inf, np.inf
    return (
        np.histogram(A, edges)[0].astype(float).tolist(),
        np.histogram(B, edges)[0].astype(float).tolist(),
    )


def test_psi_js_linf() -> None:
    r, c = _hist()
    p = (np.array(r) + 0.5) / (sum(r) + 0.5 * len(r))
    q = (np.array(c) + 0.5) / (sum(c) + 0.5 * len(c))
    assert dv.psi(r, c) == pytest.approx(float(np.sum((q - p) * np.log(q / p))), rel=1e-12)
    assert dv.js_distance(r, c) == pytest.approx(float(jensenshannon(p, q, base=2)), rel=1e-9)
    assert dv.l_inf(r, c) == pytest.approx(float(np.max(np.abs(np.array(r) / sum(r) - np.array(c) / sum(c)))))


def test_ks_on_integer_data_equals_scipy() -> None:
    # With one bin per distinct value, the binned CDFs are the exact empirical CDFs.
    a = RNG.integers(0, 20, 500)
    b = RNG.integers(1, 22, 350)
    r = np.bincount(a, minlength=22).astype(float).tolist()
    c = np.bincount(b, minlength=22).astype(float).tolist()
    res = dv.ks_from_counts(r, c)
    ref = stats.ks_2samp(a, b)
    assert res.statistic == pytest.approx(ref.statistic, rel=1e-12)
    en = len(a) * len(b) / (len(a) + len(b))
    assert res.p_value == pytest.approx(stats.kstwobign.sf(math.sqrt(en) * ref.statistic), rel=1e-9)


def test_chi_square_equals_scipy() -> None:
    r, c = _hist()
    r[3] = 0.0
    c[3] = 0.0  # an empty column is dropped, as scipy cannot take it
    res = dv.chi_square(r, c)
    keep = [i for i in range(len(r)) if r[i] + c[i] > 0]
    chi2, p, dof, _ = stats.chi2_contingency(
        np.array([[r[i] for i in keep], [c[i] for i in keep]]), correction=False
    )
    assert (res.statistic, res.df) == (pytest.approx(chi2, rel=1e-12), dof)
    assert res.p_value == pytest.approx(p, rel=1e-9)


def test_welch_equals_scipy() -> None:
    res = twosample.welch(A.mean(), A.var(ddof=1), len(A), B.mean(), B.var(ddof=1), len(B))
    ref = stats.ttest_ind(B, A, equal_var=False)
    ci = ref.confidence_interval(0.95)
    assert res.statistic == pytest.approx(ref.statistic, rel=1e-10)
    assert res.p_value == pytest.approx(ref.pvalue, rel=1e-9)
    assert res.df == pytest.approx(ref.df, rel=1e-10)
    assert (res.ci_low, res.ci_high) == (pytest.approx(ci.low, rel=1e-8), pytest.approx(ci.high, rel=1e-8))


def test_mann_whitney_equals_scipy() -> None:
    a = np.round(A, -1)  # ties
    b = np.round(B, -1)
    u, p = twosample.mann_whitney_u(a.tolist(), b.tolist())
    ref = stats.mannwhitneyu(a, b, alternative="two-sided", method="asymptotic")
    assert u == pytest.approx(ref.statistic, rel=1e-12)
    assert p == pytest.approx(ref.pvalue, rel=1e-9)


def test_two_proportion_z_equals_formula() -> None:
    res = twosample.two_proportion_z(900, 1000, 860, 1000)
    p = 1760 / 2000
    z = (0.86 - 0.9) / math.sqrt(p * (1 - p) * (2 / 1000))
    assert res.statistic == pytest.approx(z, rel=1e-12)
    assert res.p_value == pytest.approx(2 * stats.norm.sf(abs(z)), rel=1e-9)
    # The z-test's p equals the chi-square test of the 2x2 table without continuity correction.
    chi = stats.chi2_contingency([[900, 100], [860, 140]], correction=False)
    assert res.p_value == pytest.approx(chi.pvalue, rel=1e-9)


@pytest.mark.parametrize("table", [(3, 20, 9, 22), (0, 15, 6, 15), (40, 400, 70, 410), (1, 1, 0, 5)])
def test_fisher_equals_scipy(table: tuple[int, int, int, int]) -> None:
    xa, na, xb, nb = table
    ref = stats.fisher_exact([[xa, na - xa], [xb, nb - xb]])
    assert twosample.fisher_exact(xa, na, xb, nb) == pytest.approx(ref.pvalue, rel=1e-9)


@pytest.mark.parametrize(("x", "n"), [(0, 10), (3, 40), (900, 1000), (50, 50)])
def test_wilson_equals_scipy(x: int, n: int) -> None:
    ci = stats.binomtest(x, n).proportion_ci(0.95, method="wilson")
    lo, hi = twosample.wilson_interval(x, n)
    assert (lo, hi) == (pytest.approx(ci.low, abs=1e-12), pytest.approx(ci.high, abs=1e-12))


def test_benjamini_hochberg_and_holm() -> None:
    ps = [0.001, 0.04, 0.03, 0.2, 0.009, 0.5, 0.0001]
    assert multiple.benjamini_hochberg(ps) == pytest.approx(
        stats.false_discovery_control(ps, method="bh").tolist()
    )
    ordered = sorted(ps)
    expected_sorted = np.maximum.accumulate([min(1.0, (len(ps) - i) * p) for i, p in enumerate(ordered)])
    expected = [float(expected_sorted[ordered.index(p)]) for p in ps]
    assert multiple.holm(ps) == pytest.approx(expected)
    assert multiple.benjamini_hochberg([None, 0.01]) == [None, 0.01]


def test_inverse_variance_and_cmh() -> None:
    res = stratified.inverse_variance([0.1, 0.3], [0.1, 0.2])
    w = np.array([100.0, 25.0])
    assert res.estimate == pytest.approx(float((w * [0.1, 0.3]).sum() / w.sum()))
    assert res.se == pytest.approx(float(1 / math.sqrt(w.sum())))
    # CMH with one stratum equals the (uncorrected) chi-square test with n/(n-1) scaling.
    s = stratified.Stratum2x2(30, 100, 45, 100)
    stat, _ = stratified.cmh([s])
    chi = stats.chi2_contingency([[30, 70], [45, 55]], correction=False).statistic
    assert stat == pytest.approx(chi * 199 / 200, rel=1e-12)
    # Textbook example (Agresti, 3 strata) checked against the closed form.
    strata = [
        stratified.Stratum2x2(10, 20, 5, 20),
        stratified.Stratum2x2(8, 30, 4, 25),
        stratified.Stratum2x2(20, 40, 12, 40),
    ]
    num = var = 0.0
    for t in strata:
        n, m1 = t.n_a + t.n_b, t.x_a + t.x_b
        num += t.x_a - t.n_a * m1 / n
        var += t.n_a * t.n_b * m1 * (n - m1) / (n * n * (n - 1))
    stat, p = stratified.cmh(strata)
    assert stat == pytest.approx(num**2 / var)
    assert p == pytest.approx(stats.chi2.sf(num**2 / var, 1))


def test_power_matches_published_mde() -> None:
    # ANALYTICS.md §2.2: at p ~ 0.9, alpha 0.05, power 0.8 -> 8.4 pp at 200 per arm, 3.8 pp at 1000.
    assert power.mde_proportion(0.9, 200, 200) == pytest.approx(0.084, abs=0.001)
    assert power.mde_proportion(0.9, 1000, 1000) == pytest.approx(0.038, abs=0.001)
    n = power.n_per_arm(0.05, 1.0, 1.0, alpha=0.05, power=0.8)
    achieved = stats.norm.sf(stats.norm.ppf(0.975) - 0.05 / math.sqrt(2 / n))
    assert achieved == pytest.approx(0.8, abs=0.002)
