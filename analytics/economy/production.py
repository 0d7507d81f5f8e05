"""The production function behind the annual multiplier of the penetration rates (seeds 附录二 (二)2).

Y = γ A K^α L^β. ln Y = ln(γA) + α ln K + β ln L + ε is fitted by OLS (statsmodels) on the fit years
(2007-2016 in the seeds, where γ = 1 by construction); for every later year n, γ_n = Y_n / (Â K_n^α L_n^β)
and the multiplier of year n is γ_n / γ_{n-1}. The seeds do not say at which prices Y and K are;
the README asks for both at constant prices (same base year), L in persons employed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
import statsmodels.api as sm


@dataclass(frozen=True)
class Fit:
    """OLS of ln Y on a constant, ln K and ln L."""

    ln_a: float
    alpha: float
    beta: float
    se_ln_a: float
    se_alpha: float
    se_beta: float
    r_squared: float
    n_obs: int

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


def fit_loglinear(y: np.ndarray, k: np.ndarray, l: np.ndarray) -> Fit:  # noqa: E741
    """ln y = c + α ln k + β ln l by OLS with the classical (homoskedastic) standard errors."""
    exog = sm.add_constant(np.column_stack([np.log(k), np.log(l)]), has_constant="add")
    res = sm.OLS(np.log(y), exog).fit()
    (c, a, b), (sc, sa, sb) = res.params, res.bse
    return Fit(float(c), float(a), float(b), float(sc), float(sa), float(sb), float(res.rsquared), int(res.nobs))


def fit(national: pd.DataFrame, first: int, last: int) -> Fit:
    """The fit on the national series of first..last; every fit year must be observed (never extrapolated)."""
    years = list(range(first, last + 1))
    frame = national.reindex(years)
    missing = [f"{c} {y}" for c in ("gdp", "capital_stock", "employment") for y in years if pd.isna(frame.at[y, c])]
    if missing:
        raise ValueError(
            f"the production-function fit years {first}..{last} need observed values: missing {', '.join(missing)}"
        )
    return fit_loglinear(frame["gdp"].to_numpy(), frame["capital_stock"].to_numpy(), frame["employment"].to_numpy())


def gamma(national: pd.DataFrame, f: Fit, fit_last: int) -> pd.DataFrame:
    """Per year: fitted Y, γ (1 in the fit years) and the multiplier γ_n / γ_{n-1} (1 where γ_{n-1} is not known)."""
    frame = national.sort_index()
    fitted = np.exp(f.ln_a) * frame["capital_stock"] ** f.alpha * frame["employment"] ** f.beta
    g = (frame["gdp"] / fitted).where(frame.index > fit_last, 1.0)
    mult = (g / g.shift(1)).fillna(1.0)
    out = pd.DataFrame(
        {
            "gdp": frame["gdp"],
            "capital_stock": frame["capital_stock"],
            "employment": frame["employment"],
            "fitted_gdp": fitted,
            "gamma": g,
            "multiplier": mult,
            "in_fit": frame.index <= fit_last,
        }
    )
    out.index.name = "year"
    return out
