"""Validation of the economic-accounting inputs: every error names the file, the row and the column."""

from __future__ import annotations

from pathlib import Path

import pytest

from analytics.economy import inputs
from analytics.economy.settings import load_economy
from etl.model import ConfigError

CONF = Path(__file__).resolve().parents[2] / "conf"
CFG = load_economy(CONF / "economy" / "economy.yaml")
IO = """code,name,a,b,final_demand,total_output,unit,source
a,A,10,20,70,100,yi_yuan,DEMO
b,B,30,40,130,200,yi_yuan,DEMO
value_added,VA,60,140,,,yi_yuan,DEMO
total_input,TI,100,200,,,yi_yuan,DEMO
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def load_io(path: Path) -> inputs.IOTable:
    return inputs.load_io_table(path, CFG.units, CFG.tolerance)[0]


def test_a_valid_table_is_converted_to_yi_yuan(tmp_path):
    io = load_io(write(tmp_path, "io.csv", IO.replace("yi_yuan", "wan_yuan")))
    assert io.total_output.to_dict() == {"a": 0.01, "b": 0.02}
    assert io.value_added.round(12).to_dict() == {"a": 0.006, "b": 0.014}


def test_row_identity(tmp_path):
    path = write(tmp_path, "io.csv", IO.replace("a,A,10,20,70,100", "a,A,10,20,70,101"))
    with pytest.raises(ConfigError) as err:
        load_io(path)
    assert str(err.value) == (
        f"{path}: row 2: column total_output: intermediate use + final_demand = 100 but total_output = 101\n"
        f"{path}: row 5: column a: total_input 100 differs from total_output 101 of row 2"
    )


def test_column_identity(tmp_path):
    path = write(tmp_path, "io.csv", IO.replace("value_added,VA,60,140", "value_added,VA,60,139"))
    with pytest.raises(ConfigError) as err:
        load_io(path)
    assert str(err.value) == f"{path}: row 4: column b: column sum 60 + value_added 139 differs from total_input 200"


def test_cells(tmp_path):
    path = write(tmp_path, "io.csv", IO.replace("a,A,10,20,70,100,yi_yuan,DEMO", "a,A,10,-20,x,100,usd,"))
    with pytest.raises(ConfigError) as err:
        load_io(path)
    assert str(err.value).splitlines() == [
        f"{path}: row 2: column source: empty: every row must say where its figures come from",
        f"{path}: row 2: column unit: unknown money unit 'usd' (one of wan_yuan, yi_yuan, yuan)",
        f"{path}: row 2: column b: negative intermediate flow -20.0",
        f"{path}: row 2: column final_demand: not a number: 'x'",
    ]


def test_missing_rows_and_columns(tmp_path):
    path = write(tmp_path, "io.csv", "\n".join(IO.splitlines()[:3]) + "\n")
    with pytest.raises(ConfigError) as err:
        load_io(path)
    assert str(err.value).splitlines() == [
        f"{path}: no total_input row",
        f"{path}: needs a value_added or an intermediate_input row",
    ]
    path = write(tmp_path, "io2.csv", IO.replace(",unit,source", ",source").replace(",yi_yuan,", ","))
    with pytest.raises(ConfigError, match=r"io2.csv: missing column\(s\) unit"):
        load_io(path)


def test_sector_lists(tmp_path):
    io = load_io(write(tmp_path, "io.csv", IO))
    related = write(tmp_path, "related.csv", "sector_code,s_k,source\na,0.5,DEMO\nc,0.1,DEMO\nb,1.5,DEMO\n")
    with pytest.raises(ConfigError) as err:
        inputs.load_related(related, io)
    assert str(err.value).splitlines() == [
        f"{related}: row 3: column sector_code: unknown sector 'c' (not a sector of the IO table)",
        f"{related}: row 4: column s_k: must be in [0, 1], got 1.5",
    ]
    sections = write(tmp_path, "sections.csv", "sector_code,section_code,source\na,Z,DEMO\n")
    with pytest.raises(ConfigError) as err:
        inputs.load_sector_sections(sections, io, ["A", "B", "S"])
    assert str(err.value).splitlines() == [
        f"{sections}: row 2: column section_code: unknown section 'Z' (one of A..S)",
        f"{sections}: no section for sector(s) b",
    ]


def test_long_tables(tmp_path):
    va = write(
        tmp_path,
        "va.csv",
        "section_code,year,value,unit,source\nA,2017,5,yi_yuan,DEMO\nA,2017,6,yi_yuan,DEMO\n"
        "T,2017,1,yi_yuan,DEMO\nB,20x7,1,yi_yuan,DEMO\n",
    )
    with pytest.raises(ConfigError) as err:
        inputs.load_section_va(va, ["A", "B"], CFG.units)
    assert str(err.value).splitlines() == [
        f"{va}: row 3: column year: A value 2017 again (first at row 2)",
        f"{va}: row 4: column section_code: unknown section 'T'",
        f"{va}: row 5: column year: not a year: '20x7'",
    ]
    prov = write(
        tmp_path,
        "prov.csv",
        "province_code,year,indicator,value,unit,source\n"
        "11,2017,gdp_primary,1,yi_yuan,DEMO\n11,2017,gdp_secondary,1,yi_yuan,DEMO\n"
        "11,2017,gdp_tertiary,1,yi_yuan,DEMO\n11,2017,employment,1,yi_yuan,DEMO\n",
    )
    with pytest.raises(ConfigError) as err:
        inputs.load_provincial(prov, ["11", "12"], CFG.units)
    assert str(err.value) == f"{prov}: row 5: column unit: unknown persons unit 'yi_yuan' (one of person, wan_person)"
    prov.write_text(prov.read_text().replace("employment,1,yi_yuan", "employment,1,wan_person"))
    with pytest.raises(ConfigError) as err:
        inputs.load_provincial(prov, ["11", "12"], CFG.units)
    assert str(err.value) == (
        f"{prov}: province_code 12, year 2017: missing indicator(s) gdp_primary, gdp_secondary, "
        "gdp_tertiary, employment"
    )


def test_settings_name_the_file_and_key(tmp_path):
    text = (CONF / "economy" / "economy.yaml").read_text(encoding="utf-8").replace("split: mixed", "split: halves")
    path = write(tmp_path, "economy.yaml", text)
    with pytest.raises(ConfigError) as err:
        load_economy(path)
    assert str(err.value) == f"{path}: augmentation.split: Input should be 'mixed' or 'segregated'"


def test_the_demo_set_loads_and_every_row_is_marked_demo():
    loaded = inputs.load_inputs(CFG, CONF / "economy", CONF / "reference")
    assert len(loaded.io.sectors) == 21 and sorted(loaded.s_k.index) == ["C02", "I01", "I02"]
    assert all(demo == rows > 0 for demo, rows in loaded.demo_rows.values())
    assert loaded.provincial["employment"].shape == (4, 31)
