"""conf/economy/economy.yaml: which input files, and every choice the seeds' 测算方案 leaves open.

The seeds (002 and 004, 附录二) publish the method but not how the virtual sectors are split out
of their parents, which year's value added a contribution rate is a share of, how "线性外推"
is fitted, or how sections group into the three sectors. Each of those is a named setting here,
so a run records which it made and a reviewer can change one without touching code.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from etl.model import Frozen, load_model


class InputFiles(Frozen):
    """The versioned input tables, relative to `folder` (itself relative to economy.yaml's folder)."""

    folder: str = "."
    io_table: str
    related_sectors: str
    sector_sections: str
    national_series: str
    section_value_added: str
    provincial_accounts: str
    published_figures: str

    def paths(self, base: Path) -> dict[str, Path]:
        root = (base / self.folder).resolve()
        names = self.model_dump(exclude={"folder"})
        return {key: root / name for key, name in names.items()}


class Units(Frozen):
    """Accepted units and their factor to the unit every output is in (亿元 and 万人)."""

    money: dict[str, float] = Field(min_length=1)
    persons: dict[str, float] = Field(min_length=1)


class Tolerance(Frozen):
    """An identity holds when |lhs - rhs| <= absolute + relative * |rhs| (in the file's own unit)."""

    relative: float = Field(ge=0)
    absolute: float = Field(ge=0)

    def holds(self, lhs: float, rhs: float) -> bool:
        return abs(lhs - rhs) <= self.absolute + self.relative * abs(rhs)


class Augmentation(Frozen):
    """How each related sector k is split into a virtual pure-IIoT sector (share S_k) and its remainder.

    mixed: the virtual sector has its parent's input structure and its parent's customers;
      every flow of the parent's row and column is split in proportion, including flows between
      the two halves (z_kk -> (1-S)^2, S(1-S), S(1-S), S^2).
    segregated: as mixed, but the parent's own-use flow z_kk stays inside each half
      (virtual buys S z_kk from itself, the remainder (1-S) z_kk from itself, nothing between them).
    """

    split: Literal["mixed", "segregated"] = "mixed"


class Rates(Frozen):
    """Denominator of the base-year contribution rates of each section.

    io_table: the section's value added in the IO table (like for like with the numerator);
    yearbook: the section's base-year value added in section_value_added.csv (then the
      base-year totals by section equal the yearbook-scaled figures exactly).
    """

    denominator: Literal["io_table", "yearbook"] = "io_table"


class ProductionFunction(Frozen):
    """ln Y = ln A + alpha ln K + beta ln L fitted by OLS on fit_first..fit_last (gamma = 1 there)."""

    fit_first: int
    fit_last: int

    @model_validator(mode="after")
    def _order(self) -> ProductionFunction:
        if self.fit_last - self.fit_first < 3:
            raise ValueError("fit_first..fit_last must span at least 4 years to fit 3 coefficients")
        return self


class Extrapolation(Frozen):
    """线性外推: years missing after (before) a series are read off a least-squares line
    value = a + b * year fitted to its last (first) `window` observed years; gaps inside are
    interpolated linearly between the neighbouring observed years."""

    method: Literal["linear_trend"] = "linear_trend"
    window: int = Field(ge=2)


class ThreeSectors(Frozen):
    """Sections (A..S) of each of the three sectors (三次产业), at section level.

    NBS 三次产业划分规定 (2018) puts A05, B11 and C43 in the tertiary sector; sections cannot be split,
    so the default is A | B-E | F-S, the usual section-level approximation."""

    primary: tuple[str, ...]
    secondary: tuple[str, ...]
    tertiary: tuple[str, ...]

    def of_section(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for number, sections in enumerate((self.primary, self.secondary, self.tertiary), start=1):
            for s in sections:
                if s in out:
                    raise ValueError(f"section {s} is in more than one of the three sectors")
                out[s] = number
        return out


class Regions(Frozen):
    """by_sector (seed 004): omega_in^j per sector j, Z_in = sum_j Z_n^j omega_in^j;
    pooled (seed 002): one omega_i = sum_j GDP_i^j eta^j / sum_i sum_j GDP_i^j eta^j, Z_i = Z_n omega_i."""

    weights: Literal["by_sector", "pooled"] = "by_sector"


class Employment(Frozen):
    """Productivity of the section figures: national = sum of provincial GDP / sum of provincial employment
    (the appendix's Pro_n)."""

    section_productivity: Literal["national"] = "national"


class EconomySettings(Frozen):
    inputs: InputFiles
    base_year: int
    last_year: int | None = None
    units: Units
    tolerance: Tolerance
    augmentation: Augmentation
    rates: Rates
    production_function: ProductionFunction
    extrapolation: Extrapolation
    three_sectors: ThreeSectors
    regions: Regions
    employment: Employment

    @model_validator(mode="after")
    def _years(self) -> EconomySettings:
        self.three_sectors.of_section()
        if self.production_function.fit_last >= self.base_year:
            raise ValueError("production_function.fit_last must be before base_year (gamma is 1 in the fit years)")
        if self.last_year is not None and self.last_year < self.base_year:
            raise ValueError("last_year must not be before base_year")
        return self


def load_economy(path: Path) -> EconomySettings:
    """Parse economy.yaml, naming the file and key on any error."""
    return load_model(EconomySettings, path)
