"""Load and validate the versioned input tables of the economic accounting (conf/economy/*.csv).

Every file is plain CSV with a `source` column on every row (where the figure comes from;
`DEMO ...` for the shipped demo set) and, for figures, a `unit` column; values are converted on
load to 亿元 (money) and 万人 (persons), the units the seeds publish in. Each check names the
file, the row (spreadsheet numbering: the header is row 1) and the column, so a statistician
fixing a yearbook transcription goes straight to the cell.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from analytics.economy.settings import EconomySettings, Tolerance, Units
from etl.model import ConfigError

IO_SPECIAL_ROWS = ("intermediate_input", "value_added", "total_input")
IO_TAIL = ("final_demand", "total_output", "unit", "source")
NATIONAL_INDICATORS = {"gdp": "money", "capital_stock": "money", "employment": "persons"}
PROVINCIAL_INDICATORS = {
    "gdp_primary": "money",
    "gdp_secondary": "money",
    "gdp_tertiary": "money",
    "employment": "persons",
}
MAX_ERRORS = 25


class _Errors:
    """Collects every problem of one file, then raises them together (one line each)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.items: list[str] = []

    def cell(self, row: int, column: str, message: str) -> None:
        self.items.append(f"{self.path}: row {row}: column {column}: {message}")

    def file(self, message: str) -> None:
        self.items.append(f"{self.path}: {message}")

    def raise_any(self) -> None:
        if self.items:
            shown = self.items[:MAX_ERRORS]
            more = len(self.items) - len(shown)
            raise ConfigError("\n".join(shown + ([f"{self.path}: ... and {more} more"] if more else [])))


def _read(path: Path, required: tuple[str, ...]) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    """Header and (spreadsheet row number, row) pairs; the required columns must be there."""
    if not path.is_file():
        raise ConfigError(f"{path}: file not found")
    with path.open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.reader(fh)
        try:
            header = [h.strip() for h in next(reader)]
        except StopIteration:
            raise ConfigError(f"{path}: empty file") from None
        rows = []
        for number, values in enumerate(reader, start=2):
            if not any(v.strip() for v in values):
                continue
            if len(values) != len(header):
                raise ConfigError(f"{path}: row {number}: {len(values)} fields, the header has {len(header)}")
            rows.append((number, {h: v.strip() for h, v in zip(header, values)}))
    missing = [c for c in required if c not in header]
    if missing:
        raise ConfigError(f"{path}: missing column(s) {', '.join(missing)} (required: {', '.join(required)})")
    if len(set(header)) != len(header):
        dup = sorted({h for h in header if header.count(h) > 1})
        raise ConfigError(f"{path}: duplicate column(s) {', '.join(dup)}")
    if not rows:
        raise ConfigError(f"{path}: no data rows")
    return header, rows


def _number(errors: _Errors, row: int, column: str, text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        errors.cell(row, column, f"not a number: {text!r}")
        return None
    if not math.isfinite(value):
        errors.cell(row, column, f"not a finite number: {text!r}")
        return None
    return value


def _year(errors: _Errors, row: int, text: str) -> int | None:
    if not text.isdigit() or not 1900 <= int(text) <= 2100:
        errors.cell(row, "year", f"not a year: {text!r}")
        return None
    return int(text)


def _factor(errors: _Errors, row: int, unit: str, kind: str, units: Units) -> float | None:
    known = units.money if kind == "money" else units.persons
    if unit not in known:
        errors.cell(row, "unit", f"unknown {kind} unit {unit!r} (one of {', '.join(sorted(known))})")
        return None
    return known[unit]


def _source(errors: _Errors, row: int, text: str) -> None:
    if not text:
        errors.cell(row, "source", "empty: every row must say where its figures come from")


@dataclass(frozen=True)
class IOTable:
    """A single-region product-by-product table: Z (flows), f (net final demand), x (total output), 亿元."""

    flows: pd.DataFrame
    final_demand: pd.Series
    total_output: pd.Series
    names: pd.Series

    @property
    def sectors(self) -> list[str]:
        return list(self.flows.index)

    @property
    def intermediate_input(self) -> pd.Series:
        """M_j: column sums of Z."""
        return self.flows.sum(axis=0)

    @property
    def value_added(self) -> pd.Series:
        """X_j - M_j (总投入 - 中间投入合计), the seeds' 净产出."""
        return self.total_output - self.intermediate_input


@dataclass(frozen=True)
class EconomyInputs:
    io: IOTable
    s_k: pd.Series  # related sector -> S_k
    section_of: pd.Series  # IO sector -> section code
    national: pd.DataFrame  # year x (gdp, capital_stock, employment), NaN where not given
    section_va: pd.DataFrame  # year x section, NaN where not given
    provincial: dict[str, pd.DataFrame]  # indicator -> year x province
    published: pd.DataFrame
    sections: tuple[str, ...]
    provinces: tuple[str, ...]
    files: dict[str, Path]
    demo_rows: dict[str, tuple[int, int]] = field(default_factory=dict)  # file key -> (DEMO rows, rows)

    @property
    def is_demo(self) -> bool:
        return any(demo for demo, _ in self.demo_rows.values())


def _demo(rows: list[tuple[int, dict[str, str]]]) -> tuple[int, int]:
    return sum(r["source"].upper().startswith("DEMO") for _, r in rows), len(rows)


def load_io_table(path: Path, units: Units, tol: Tolerance) -> tuple[IOTable, tuple[int, int]]:
    """Wide NBS layout: one row per sector (intermediate use across, then final_demand, total_output),
    then rows intermediate_input and/or value_added, and total_input, under the sector columns."""
    header, rows = _read(path, ("code", "name", *IO_TAIL))
    errors = _Errors(path)
    if header[:2] != ["code", "name"] or tuple(header[-4:]) != IO_TAIL:
        raise ConfigError(f"{path}: columns must be code, name, <sector codes...>, {', '.join(IO_TAIL)}")
    sectors = header[2:-4]
    if len(sectors) < 2:
        raise ConfigError(f"{path}: at least two sector columns are needed, found {len(sectors)}")
    clash = [s for s in sectors if s in IO_SPECIAL_ROWS]
    if clash:
        raise ConfigError(f"{path}: {', '.join(clash)} is a reserved row name, not a sector code")
    seen: dict[str, int] = {}
    flows: dict[str, dict[str, float]] = {}
    tails: dict[str, dict[str, float]] = {}
    for number, row in rows:
        code = row["code"]
        _source(errors, number, row["source"])
        if code in seen:
            errors.cell(number, "code", f"{code!r} again (first at row {seen[code]})")
            continue
        seen[code] = number
        if code not in sectors and code not in IO_SPECIAL_ROWS:
            errors.cell(
                number, "code", f"unknown row {code!r} (a sector column or one of {', '.join(IO_SPECIAL_ROWS)})"
            )
            continue
        factor = _factor(errors, number, row["unit"], "money", units)
        values = {}
        for s in sectors:
            v = _number(errors, number, s, row[s])
            if v is not None and code in sectors and v < 0:
                errors.cell(number, s, f"negative intermediate flow {v}")
            values[s] = (v or 0.0) * (factor or 1.0)
        flows[code] = values
        if code in sectors:
            tail = {}
            for col in ("final_demand", "total_output"):
                v = _number(errors, number, col, row[col])
                if col == "total_output" and v is not None and v <= 0:
                    errors.cell(number, col, f"must be positive, got {v}")
                tail[col] = (v or 0.0) * (factor or 1.0)
            tails[code] = tail
        else:
            for col in ("final_demand", "total_output"):
                if row[col]:
                    errors.cell(number, col, f"must be empty on the {code} row")
    for s in sectors:
        if s not in seen:
            errors.file(f"no row for sector {s!r}")
    if "total_input" not in seen:
        errors.file("no total_input row")
    if "value_added" not in seen and "intermediate_input" not in seen:
        errors.file("needs a value_added or an intermediate_input row")
    errors.raise_any()

    z = pd.DataFrame({s: [flows[r][s] for r in sectors] for s in sectors}, index=sectors)
    z.index.name, z.columns.name = "sector", "sector"
    f = pd.Series({s: tails[s]["final_demand"] for s in sectors}, name="final_demand")
    x = pd.Series({s: tails[s]["total_output"] for s in sectors}, name="total_output")
    names = pd.Series({r["code"]: r["name"] for _, r in rows if r["code"] in sectors}, name="name")[sectors]
    colsum = z.sum(axis=0)
    for s in sectors:
        lhs = z.loc[s].sum() + f[s]
        if not tol.holds(lhs, x[s]):
            errors.cell(
                seen[s], "total_output", f"intermediate use + final_demand = {lhs:.6g} but total_output = {x[s]:.6g}"
            )
        ti = flows["total_input"][s]
        if not tol.holds(ti, x[s]):
            errors.cell(
                seen["total_input"], s, f"total_input {ti:.6g} differs from total_output {x[s]:.6g} of row {seen[s]}"
            )
        if "intermediate_input" in flows and not tol.holds(flows["intermediate_input"][s], colsum[s]):
            errors.cell(
                seen["intermediate_input"],
                s,
                f"intermediate_input {flows['intermediate_input'][s]:.6g} differs from the column sum {colsum[s]:.6g}",
            )
        if "value_added" in flows and not tol.holds(colsum[s] + flows["value_added"][s], ti):
            errors.cell(
                seen["value_added"],
                s,
                f"column sum {colsum[s]:.6g} + value_added {flows['value_added'][s]:.6g}"
                f" differs from total_input {ti:.6g}",
            )
    errors.raise_any()
    return IOTable(z, f, x, names), _demo(rows)


def _coded(path: Path, key: str, known: list[str], what: str, rows, errors: _Errors, number_col: str | None = None):
    out: dict[str, tuple[str, float | None]] = {}
    first: dict[str, int] = {}
    for number, row in rows:
        _source(errors, number, row["source"])
        code = row["sector_code"]
        if code not in known:
            errors.cell(number, "sector_code", f"unknown sector {code!r} (not a sector of {what})")
            continue
        if code in first:
            errors.cell(number, "sector_code", f"{code!r} again (first at row {first[code]})")
            continue
        first[code] = number
        out[code] = (row.get(key, ""), _number(errors, number, number_col, row[number_col]) if number_col else None)
    return out, first


def load_related(path: Path, io: IOTable) -> tuple[pd.Series, tuple[int, int]]:
    """The related sectors k and their correlation coefficients S_k in [0, 1]."""
    _, rows = _read(path, ("sector_code", "s_k", "source"))
    errors = _Errors(path)
    parsed, first = _coded(path, "s_k", io.sectors, "the IO table", rows, errors, number_col="s_k")
    for code, (_, value) in parsed.items():
        if value is not None and not 0 <= value <= 1:
            errors.cell(first[code], "s_k", f"must be in [0, 1], got {value}")
    errors.raise_any()
    return pd.Series({c: v for c, (_, v) in parsed.items()}, name="s_k", dtype=float), _demo(rows)


def load_sector_sections(path: Path, io: IOTable, sections: list[str]) -> tuple[pd.Series, tuple[int, int]]:
    """Every IO sector -> one GB/T 4754-2017 section (A..S as in conf/reference/sections.csv)."""
    _, rows = _read(path, ("sector_code", "section_code", "source"))
    errors = _Errors(path)
    parsed, first = _coded(path, "section_code", io.sectors, "the IO table", rows, errors)
    for code, (section, _) in parsed.items():
        if section not in sections:
            errors.cell(
                first[code], "section_code", f"unknown section {section!r} (one of {sections[0]}..{sections[-1]})"
            )
    missing = [s for s in io.sectors if s not in parsed]
    if missing:
        errors.file(f"no section for sector(s) {', '.join(missing)}")
    errors.raise_any()
    return pd.Series({c: s for c, (s, _) in parsed.items()}, name="section_code")[io.sectors], _demo(rows)


def _long(path: Path, key_col: str, keys: list[str] | dict[str, str], units: Units, kind_of, columns=None):
    """Rows `<key_col>, year, [indicator,] value, unit, source` -> {(key, indicator): {year: value}}."""
    required = (key_col, "year", *(columns or ()), "value", "unit", "source")
    _, rows = _read(path, required)
    errors = _Errors(path)
    out: dict[tuple[str, str], dict[int, float]] = {}
    first: dict[tuple, int] = {}
    for number, row in rows:
        _source(errors, number, row["source"])
        key = row[key_col]
        if key not in keys:
            errors.cell(number, key_col, f"unknown {key_col.removesuffix('_code')} {key!r}")
            continue
        indicator = row.get("indicator", "value")
        kind = kind_of(indicator)
        if kind is None:
            errors.cell(number, "indicator", f"unknown indicator {indicator!r}")
            continue
        year = _year(errors, number, row["year"])
        value = _number(errors, number, "value", row["value"])
        factor = _factor(errors, number, row["unit"], kind, units)
        if value is not None and value < 0:
            errors.cell(number, "value", f"must not be negative, got {value}")
        if None in (year, value, factor):
            continue
        ident = (key, indicator, year)
        if ident in first:
            errors.cell(number, "year", f"{key} {indicator} {year} again (first at row {first[ident]})")
            continue
        first[ident] = number
        out.setdefault((key, indicator), {})[year] = value * factor
    return out, errors, rows


def load_national(path: Path, units: Units) -> tuple[pd.DataFrame, tuple[int, int]]:
    """GDP Y, capital stock K and employment L of the production function, one price basis throughout."""
    data, errors, rows = _long(path, "indicator", NATIONAL_INDICATORS, units, NATIONAL_INDICATORS.get)
    errors.raise_any()
    frame = pd.DataFrame({ind: pd.Series(v) for (ind, _), v in data.items()}).sort_index()
    for ind in NATIONAL_INDICATORS:
        if ind not in frame:
            raise ConfigError(f"{path}: no rows for indicator {ind}")
    frame.index.name = "year"
    return frame[list(NATIONAL_INDICATORS)], _demo(rows)


def load_section_va(path: Path, sections: list[str], units: Units) -> tuple[pd.DataFrame, tuple[int, int]]:
    """Value added of the 19 sections by year (中国统计年鉴 table 3-x), current prices."""
    data, errors, rows = _long(path, "section_code", sections, units, lambda _: "money")
    errors.raise_any()
    frame = pd.DataFrame({s: pd.Series(data.get((s, "value"), {}), dtype=float) for s in sections}).sort_index()
    frame.index.name = "year"
    return frame, _demo(rows)


def load_provincial(path: Path, provinces: list[str], units: Units) -> tuple[dict[str, pd.DataFrame], tuple[int, int]]:
    """GDP of the three sectors and employment of the 31 provinces; every year given must be complete."""
    data, errors, rows = _long(path, "province_code", provinces, units, PROVINCIAL_INDICATORS.get, ("indicator",))
    errors.raise_any()
    years = sorted({y for v in data.values() for y in v})
    for year in years:
        for p in provinces:
            absent = [i for i in PROVINCIAL_INDICATORS if year not in data.get((p, i), {})]
            if absent:
                errors.file(f"province_code {p}, year {year}: missing indicator(s) {', '.join(absent)}")
    errors.raise_any()
    out = {}
    for ind in PROVINCIAL_INDICATORS:
        frame = pd.DataFrame({p: pd.Series(data[(p, ind)]) for p in provinces}).sort_index()
        frame.index.name = "year"
        out[ind] = frame
    return out, _demo(rows)


PUBLISHED_COLUMNS = ("figure", "year", "key", "value", "unit", "seed", "location")


def load_published(path: Path) -> pd.DataFrame:
    """The seeds' published figures (not an input of the computation; the comparison report reads them)."""
    _, rows = _read(path, PUBLISHED_COLUMNS)
    errors = _Errors(path)
    records = []
    for number, row in rows:
        year = _year(errors, number, row["year"])
        value = _number(errors, number, "value", row["value"])
        if not row["seed"]:
            errors.cell(number, "seed", "empty: which seed publishes the figure")
        records.append({**{c: row[c] for c in PUBLISHED_COLUMNS}, "year": year, "value": value})
    errors.raise_any()
    return pd.DataFrame.from_records(records, columns=list(PUBLISHED_COLUMNS))


def reference_codes(reference_dir: Path) -> tuple[list[str], list[str]]:
    """Section codes (A..S) and province codes of conf/reference."""
    with (reference_dir / "sections.csv").open(encoding="utf-8") as fh:
        sections = [r["section_code"] for r in csv.DictReader(fh)]
    with (reference_dir / "provinces.csv").open(encoding="utf-8") as fh:
        provinces = [r["province_code"] for r in csv.DictReader(fh)]
    return sections, provinces


def load_inputs(settings: EconomySettings, base: Path, reference_dir: Path) -> EconomyInputs:
    """Every input table, validated against each other and conf/reference."""
    files = settings.inputs.paths(base)
    sections, provinces = reference_codes(reference_dir)
    units, tol = settings.units, settings.tolerance
    io, d_io = load_io_table(files["io_table"], units, tol)
    s_k, d_rel = load_related(files["related_sectors"], io)
    section_of, d_sec = load_sector_sections(files["sector_sections"], io, sections)
    national, d_nat = load_national(files["national_series"], units)
    section_va, d_va = load_section_va(files["section_value_added"], sections, units)
    provincial, d_prov = load_provincial(files["provincial_accounts"], provinces, units)
    published = load_published(files["published_figures"])
    demo = {
        "io_table": d_io,
        "related_sectors": d_rel,
        "sector_sections": d_sec,
        "national_series": d_nat,
        "section_value_added": d_va,
        "provincial_accounts": d_prov,
    }
    return EconomyInputs(
        io, s_k, section_of, national, section_va, provincial, published, tuple(sections), tuple(provinces), files, demo
    )
