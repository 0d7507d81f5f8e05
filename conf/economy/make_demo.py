"""Write the DEMO input set of the economic accounting (conf/economy/*.csv); deterministic.

    .venv/bin/python conf/economy/make_demo.py [--out conf/economy]

Synthetic figures of the magnitude of China's national accounts (GDP about 83 万亿元 in 2017,
31 provinces, 2007-2020), so the totals land near what seeds 002/004 publish (IIoT value added
about 2.4 万亿元 in 2017, penetration about 2.6 times direct). Not statistics: every row's source
starts with DEMO. A real run replaces these files with the NBS tables named in README.md.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np

SOURCE = "DEMO — synthetic, not a published figure (conf/economy/make_demo.py)"
YEARS = list(range(2007, 2021))
BASE = 2017
# approximate nominal GDP, 亿元: only the magnitude matters
GDP = dict(
    zip(
        YEARS,
        [
            270092,
            319245,
            348518,
            412119,
            487940,
            538580,
            592963,
            643563,
            688858,
            746395,
            832036,
            919281,
            986515,
            1015986,
        ],
    )
)
REAL_GROWTH = dict(
    zip(YEARS[1:], [0.097, 0.094, 0.106, 0.096, 0.079, 0.078, 0.074, 0.070, 0.068, 0.069, 0.067, 0.060, 0.022])
)
EMPLOYMENT = dict(
    zip(YEARS, [75321, 75564, 75828, 76105, 76420, 76704, 76977, 77253, 77451, 77603, 77640, 77586, 77471, 75064])
)  # 万人
# section: (share of GDP in 2017 %, drift in points per year)
SECTIONS = {
    "A": (7.5, -0.15),
    "B": (3.5, -0.10),
    "C": (28.6, -0.30),
    "D": (2.2, 0),
    "E": (6.8, 0),
    "F": (9.4, 0),
    "G": (4.4, 0),
    "H": (1.8, 0),
    "I": (3.3, 0.20),
    "J": (7.9, 0.10),
    "K": (6.6, 0.10),
    "L": (2.6, 0),
    "M": (1.9, 0.05),
    "N": (0.6, 0),
    "O": (1.6, 0),
    "P": (3.6, 0),
    "Q": (2.3, 0.05),
    "R": (0.8, 0),
    "S": (4.2, 0),
}
# IO sector: (name, section, share of the section's value added, value added / output, final demand / output)
SECTORS = {
    "A": ("农林牧渔产品和服务", "A", 1.0, 0.58, 0.35),
    "B": ("采矿产品", "B", 1.0, 0.40, 0.05),
    "C01": ("其他制造产品", "C", 0.91, 0.22, 0.30),
    "C02": ("计算机、通信和其他电子设备", "C", 0.09, 0.18, 0.35),
    "D": ("电力、热力、燃气及水", "D", 1.0, 0.25, 0.12),
    "E": ("建筑", "E", 1.0, 0.25, 0.95),
    "F": ("批发和零售", "F", 1.0, 0.62, 0.45),
    "G": ("交通运输、仓储和邮政", "G", 1.0, 0.42, 0.25),
    "H": ("住宿和餐饮", "H", 1.0, 0.40, 0.60),
    "I01": ("电信、广播电视和卫星传输服务及互联网", "I", 0.55, 0.50, 0.45),
    "I02": ("软件和信息技术服务", "I", 0.45, 0.48, 0.45),
    "J": ("金融", "J", 1.0, 0.65, 0.20),
    "K": ("房地产", "K", 1.0, 0.78, 0.80),
    "L": ("租赁和商务服务", "L", 1.0, 0.35, 0.15),
    "M": ("研究和试验发展、专业技术服务", "M", 1.0, 0.38, 0.35),
    "N": ("水利、环境和公共设施管理", "N", 1.0, 0.45, 0.80),
    "O": ("居民服务、修理和其他服务", "O", 1.0, 0.50, 0.70),
    "P": ("教育", "P", 1.0, 0.62, 0.97),
    "Q": ("卫生和社会工作", "Q", 1.0, 0.38, 0.97),
    "R": ("文化、体育和娱乐", "R", 1.0, 0.45, 0.70),
    "S": ("公共管理、社会保障和社会组织", "S", 1.0, 0.55, 0.99),
}
RELATED = {"C02": 0.17, "I01": 0.11, "I02": 0.13}
# 2020 GDP (亿元), primary %, secondary %, population (万) of the provinces: magnitudes only
PROVINCES = {
    "11": (36103, 0.4, 15.8, 2189),
    "12": (14084, 1.5, 34.1, 1387),
    "13": (36207, 10.7, 37.6, 7461),
    "14": (17652, 5.4, 43.4, 3492),
    "15": (17360, 11.7, 39.6, 2405),
    "21": (25115, 9.1, 37.4, 4259),
    "22": (12311, 12.6, 35.1, 2407),
    "23": (13698, 25.1, 25.1, 3185),
    "31": (38701, 0.3, 26.6, 2487),
    "32": (102719, 4.4, 43.1, 8475),
    "33": (64613, 3.3, 40.9, 6457),
    "34": (38681, 8.2, 40.5, 6103),
    "35": (43904, 6.2, 46.3, 4154),
    "36": (25692, 8.7, 43.2, 4519),
    "37": (73129, 7.3, 39.1, 10153),
    "41": (54997, 9.7, 41.6, 9937),
    "42": (43443, 9.5, 39.2, 5775),
    "43": (41782, 10.2, 38.1, 6644),
    "44": (110761, 4.3, 39.2, 12601),
    "45": (22157, 16.0, 32.1, 5013),
    "46": (5532, 20.5, 19.1, 1008),
    "50": (25003, 7.2, 40.0, 3205),
    "51": (48599, 11.4, 36.2, 8367),
    "52": (17827, 14.2, 34.8, 3856),
    "53": (24522, 14.7, 33.8, 4721),
    "54": (1903, 7.9, 42.0, 365),
    "61": (26182, 8.7, 43.4, 3953),
    "62": (9017, 13.3, 31.6, 2502),
    "63": (3006, 11.1, 38.1, 592),
    "64": (3921, 8.6, 41.0, 720),
    "65": (13798, 14.4, 34.4, 2585),
}
THREE = {"A": 1, **{s: 2 for s in "BCDE"}, **{s: 3 for s in "FGHIJKLMNOPQRS"}}


def section_va() -> dict[int, dict[str, float]]:
    out = {}
    for y in YEARS:
        raw = {s: max(share + drift * (y - BASE), 0.1) for s, (share, drift) in SECTIONS.items()}
        total = sum(raw.values())
        out[y] = {s: round(GDP[y] * v / total, 2) for s, v in raw.items()}
    return out


def ras(seed: np.ndarray, rows: np.ndarray, cols: np.ndarray, rounds: int = 500) -> np.ndarray:
    z = seed.copy()
    for _ in range(rounds):
        z *= (rows / z.sum(axis=1))[:, None]
        z *= (cols / z.sum(axis=0))[None, :]
    return z


def io_table(va2017: dict[str, float]) -> list[list]:
    codes = list(SECTORS)
    v = np.array([va2017[SECTORS[c][1]] * SECTORS[c][2] for c in codes]) * 1e4  # 万元
    x = v / np.array([SECTORS[c][3] for c in codes])
    f_raw = x * np.array([SECTORS[c][4] for c in codes])
    f = f_raw * v.sum() / f_raw.sum()  # GDP identity: sum of final demand = sum of value added
    rng = np.random.default_rng(2017)
    seed = rng.lognormal(0.0, 0.6, (len(codes), len(codes)))
    manufacturing = [codes.index(c) for c in ("B", "C01", "C02", "D")]
    electronics = codes.index("C02")
    seed[np.ix_(manufacturing, [electronics])] *= 6.0  # electronics draws on manufactured inputs
    seed[electronics, electronics] *= 4.0
    z = np.round(ras(seed, x - f, x - v))
    f = np.round(f)
    total = z.sum(axis=1) + f  # exact in 万元: the row identity holds by construction
    added = total - z.sum(axis=0)
    header = ["code", "name", *codes, "final_demand", "total_output", "unit", "source"]
    rows = [header]
    for i, c in enumerate(codes):
        rows.append([c, SECTORS[c][0], *[int(q) for q in z[i]], int(f[i]), int(total[i]), "wan_yuan", SOURCE])
    rows.append(["intermediate_input", "中间投入合计", *[int(q) for q in z.sum(axis=0)], "", "", "wan_yuan", SOURCE])
    rows.append(["value_added", "增加值合计", *[int(q) for q in added], "", "", "wan_yuan", SOURCE])
    rows.append(["total_input", "总投入", *[int(q) for q in total], "", "", "wan_yuan", SOURCE])
    return rows


def national() -> list[list]:
    """Constant-price GDP, capital stock and employment from Y = A K^0.45 L^0.6 (gamma rising 2%/yr after 2016)."""
    rng = np.random.default_rng(7)
    real = {2007: float(GDP[2007])}
    for y in YEARS[1:]:
        real[y] = real[y - 1] * (1 + REAL_GROWTH[y])
    capital = {2007: 2.2 * real[2007]}
    for y in YEARS[1:]:
        capital[y] = capital[y - 1] * 0.905 + 0.42 * real[y - 1]  # 9.5% depreciation, 42% investment share
    a = real[2007] / (capital[2007] ** 0.45 * EMPLOYMENT[2007] ** 0.6)
    rows = [["year", "indicator", "value", "unit", "source"]]
    for y in YEARS:
        gamma = 1.02 ** max(y - 2016, 0)
        # GDP is the production function's, with tiny noise: the demo fit recovers alpha, beta nearly
        gdp = a * capital[y] ** 0.45 * EMPLOYMENT[y] ** 0.6 * gamma * np.exp(rng.normal(0, 0.0005))
        rows.append([y, "gdp", round(gdp, 2), "yi_yuan", f"{SOURCE}; constant 2007 prices"])
        rows.append([y, "capital_stock", round(capital[y], 2), "yi_yuan", f"{SOURCE}; constant 2007 prices"])
        rows.append([y, "employment", EMPLOYMENT[y], "wan_person", SOURCE])
    return rows


def provincial(va: dict[int, dict[str, float]]) -> list[list]:
    rows = [["province_code", "year", "indicator", "value", "unit", "source"]]
    pop = sum(p[3] for p in PROVINCES.values())
    for y in range(2017, 2021):
        national = {j: sum(v for s, v in va[y].items() if THREE[s] == j) for j in (1, 2, 3)}
        raw = {
            code: {1: g * p1 / 100, 2: g * p2 / 100, 3: g * (100 - p1 - p2) / 100}
            for code, (g, p1, p2, _) in PROVINCES.items()
        }
        scale = {j: national[j] / sum(r[j] for r in raw.values()) for j in (1, 2, 3)}
        for code, r in raw.items():
            for j, name in ((1, "gdp_primary"), (2, "gdp_secondary"), (3, "gdp_tertiary")):
                rows.append([code, y, name, round(r[j] * scale[j], 2), "yi_yuan", SOURCE])
            rows.append(
                [
                    code,
                    y,
                    "employment",
                    round(EMPLOYMENT[y] * PROVINCES[code][3] / pop, 2),
                    "wan_person",
                    f"{SOURCE}; population share x national employment, as seed 002 does",
                ]
            )
    return rows


def write(path: Path, rows: list[list]) -> None:
    with path.open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh, lineterminator="\n").writerows(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(Path(__file__).parent))
    out = Path(parser.parse_args().out)
    va = section_va()
    write(out / "io_table_2017.csv", io_table(va[BASE]))
    write(
        out / "related_sectors.csv",
        [["sector_code", "name", "s_k", "source"], *[[c, SECTORS[c][0], s, SOURCE] for c, s in RELATED.items()]],
    )
    write(
        out / "sector_sections.csv",
        [["sector_code", "section_code", "source"], *[[c, SECTORS[c][1], SOURCE] for c in SECTORS]],
    )
    write(out / "national_series.csv", national())
    write(
        out / "section_value_added.csv",
        [
            ["section_code", "year", "value", "unit", "source"],
            *[[s, y, v, "yi_yuan", f"{SOURCE}; current prices"] for y in YEARS for s, v in va[y].items()],
        ],
    )
    write(out / "provincial_accounts.csv", provincial(va))


if __name__ == "__main__":
    main()
