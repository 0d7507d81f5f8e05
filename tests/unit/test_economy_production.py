"""The production-function fit (statsmodels OLS) against published results, the multiplier, and 线性外推."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analytics.economy import extrapolate, production

# Zellner & Revankar (1969) transportation equipment, 25 US states (Greene, Econometric Analysis 5th ed.,
# Table F9.2; Rdatasets csv/AER/Equipment.csv): value added and capital in millions of 1957 dollars,
# labour in millions of man-hours, number of firms.
EQUIPMENT = [
    ("Alabama", 126.148, 3.804, 31.551, 68),
    ("California", 3201.486, 185.446, 452.844, 1372),
    ("Connecticut", 690.67, 39.712, 124.074, 154),
    ("Florida", 56.296, 6.547, 19.181, 292),
    ("Georgia", 304.531, 11.53, 45.534, 71),
    ("Illinois", 723.028, 58.987, 88.391, 275),
    ("Indiana", 992.169, 112.884, 148.53, 260),
    ("Iowa", 35.796, 2.698, 8.017, 75),
    ("Kansas", 494.515, 10.36, 86.189, 76),
    ("Kentucky", 124.948, 5.213, 12.0, 31),
    ("Louisiana", 73.328, 3.763, 15.9, 115),
    ("Maine", 29.467, 1.967, 6.47, 81),
    ("Maryland", 415.262, 17.546, 69.342, 129),
    ("Massachusetts", 241.53, 15.347, 39.416, 172),
    ("Michigan", 4079.554, 435.105, 490.384, 568),
    ("Missouri", 652.085, 32.84, 84.831, 125),
    ("NewJersey", 667.113, 33.292, 83.033, 247),
    ("NewYork", 940.43, 72.974, 190.094, 461),
    ("Ohio", 1611.899, 157.978, 259.916, 363),
    ("Pennsylvania", 617.579, 34.324, 98.152, 233),
    ("Texas", 527.413, 22.736, 109.728, 308),
    ("Virginia", 174.394, 7.173, 31.301, 85),
    ("Washington", 636.948, 30.807, 87.963, 179),
    ("WestVirginia", 22.7, 1.543, 4.063, 15),
    ("Wisconsin", 349.711, 22.001, 52.818, 142),
]


def test_zellner_revankar_cobb_douglas_per_firm():
    """Greene (2003) Example 17.5: ln(VA/N) = 2.293 + 0.279 ln(K/N) + 0.927 ln(L/N), to the published digits.

    The standard errors are checked against the textbook formula s^2 (X'X)^-1 computed here with numpy
    (Greene's printed standard errors were not available to this test's author).
    """
    va, k, lab, n = (np.array([r[i] for r in EQUIPMENT]) for i in (1, 2, 3, 4))
    fit = production.fit_loglinear(va / n, k / n, lab / n)
    assert (round(fit.ln_a, 3), round(fit.alpha, 3), round(fit.beta, 3)) == (2.293, 0.279, 0.927)
    assert fit.n_obs == 25
    x = np.column_stack([np.ones(25), np.log(k / n), np.log(lab / n)])
    y = np.log(va / n)
    b = np.linalg.solve(x.T @ x, x.T @ y)
    resid = y - x @ b
    s2 = resid @ resid / (25 - 3)
    se = np.sqrt(np.diag(s2 * np.linalg.inv(x.T @ x)))
    np.testing.assert_allclose([fit.se_ln_a, fit.se_alpha, fit.se_beta], se, rtol=1e-10)
    assert fit.r_squared == pytest.approx(1 - resid @ resid / ((y - y.mean()) @ (y - y.mean())), rel=1e-12)


def test_gamma_and_multiplier_recover_a_known_technology_path():
    """Y = 2 K^0.4 L^0.6 exactly in 2007..2016 (γ = 1), then γ = 1.05, 1.05^2 in 2017, 2018."""
    years = list(range(2007, 2019))
    k = pd.Series(np.linspace(100, 300, len(years)) * np.linspace(1, 1.2, len(years)) ** 3, index=years)
    lab = pd.Series(50 + 3 * np.sin(np.arange(len(years))), index=years)
    g = pd.Series([1.0] * 10 + [1.05, 1.05**2], index=years)
    frame = pd.DataFrame({"gdp": 2 * k**0.4 * lab**0.6 * g, "capital_stock": k, "employment": lab})
    fit = production.fit(frame, 2007, 2016)
    assert (fit.alpha, fit.beta, np.exp(fit.ln_a)) == pytest.approx((0.4, 0.6, 2.0), rel=1e-9)
    gam = production.gamma(frame, fit, 2016)
    assert gam.loc[2016, "gamma"] == 1.0 and gam.loc[2017, "gamma"] == pytest.approx(1.05, rel=1e-9)
    assert gam.loc[2018, "multiplier"] == pytest.approx(1.05, rel=1e-9)


def test_fit_years_must_be_observed():
    frame = pd.DataFrame(
        {"gdp": [1.0, 2, 3, 4], "capital_stock": [1.0, 2, 3, 4], "employment": [1.0, 1, np.nan, 1]},
        index=[2007, 2008, 2009, 2010],
    )
    with pytest.raises(ValueError, match="missing employment 2009"):
        production.fit(frame, 2007, 2010)


def test_linear_trend_extrapolation_and_interpolation():
    """After the series: the least-squares line through the last `window` years; inside: linear interpolation."""
    s = pd.Series({2010: 10.0, 2011: 12.0, 2013: 15.0, 2014: 17.0}, name="demo")
    filled, missing = extrapolate.fill(s, [2012, 2015, 2016, 2009], window=3)
    assert missing == [2009, 2012, 2015, 2016]
    assert filled[2012] == pytest.approx(13.5)
    # last three observed (2011, 12), (2013, 15), (2014, 17): means (2012 2/3, 14 2/3),
    # Sxy = 23/3, Sxx = 14/3, slope 23/14; at 2015: 14 2/3 + 23/14 * 7/3 = 18.5
    assert filled[2015] == pytest.approx(18.5)
    assert filled[2016] == pytest.approx(18.5 + 23 / 14)
    # first three (2010, 10), (2011, 12), (2013, 15): means (2011 1/3, 12 1/3), Sxy = 23/3, Sxx = 14/3;
    # at 2009: 12 1/3 - 23/14 * 7/3 = 8.5
    assert filled[2009] == pytest.approx(8.5)
    assert filled[2010] == 10.0
