import pytest

from etl.config import load_generator
from etl.synthetic.population import quotas, specialised_propensity
from etl.textio import read_lines, write_lines


def test_quotas_are_exact_at_scale_one():
    q = quotas(load_generator(), 1.0)
    assert (q.enterprises, q.effective) == (10_850_000, 1_619_865)
    assert sum(q.province_counts.values()) == 10_850_000
    assert sum(q.province_effective.values()) == 1_619_865
    assert q.province_effective["51"] / q.province_counts["51"] > q.province_effective["63"] / q.province_counts["63"]


def test_quotas_scale_and_reject_nonsense():
    q = quotas(load_generator(), 0.001)
    assert (q.enterprises, q.effective) == (10_850, 1_620)
    with pytest.raises(ValueError, match="scale must be positive"):
        quotas(load_generator(), 0)


def test_specialised_propensity_peaks_at_one():
    p = specialised_propensity(load_generator())
    assert max(p.values()) == 1.0
    assert len(p) == 22


def test_gbk_lines_round_trip_verbatim(spark, tmp_path):
    lines = ['{"name": "北京华瑞制造有限公司", "v": 1.5}', 'a,"b, c",  d  ', "  leading", '{"truncated": "ab']
    df = spark.createDataFrame([(line, "k", i) for i, line in enumerate(lines)], "line string, part string, i int")
    write_lines(df.repartition(1, "part").sortWithinPartitions("part", "i").select("line", "part"), str(tmp_path / "out"), "GBK", "gzip", ["part"])
    files = list((tmp_path / "out" / "part=k").glob("*.gz"))
    assert len(files) == 1
    import gzip

    assert gzip.decompress(files[0].read_bytes()).decode("gbk") == "\n".join(lines) + "\n"
    back = [r.line for r in read_lines(spark, [str(files[0])], "GBK").collect()]
    assert back == lines
