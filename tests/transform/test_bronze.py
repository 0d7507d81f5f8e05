from datetime import date

from pyspark.testing import assertDataFrameEqual

from etl.bronze import RAW_SCHEMA, to_bronze

PATH = "file:/landing/P02/logins/2020-06-02/logins.csv"


def test_to_bronze_renames_fields_and_records_missing_and_unknown_ones(spark, settings):
    # P02 names its login fields ZH_ID, YH_ID, DLSJ, DLQD; all four are required
    contract, spec = settings.contracts["P02"], settings.feeds.feeds["logins"]
    assert contract.fields["logins"] == {
        "tenant_id": "ZH_ID",
        "user_id": "YH_ID",
        "event_ts": "DLSJ",
        "channel": "DLQD",
    }
    full = {"ZH_ID": "kd-1", "YH_ID": "u1", "DLSJ": "1591000000000", "DLQD": "web"}
    raw = spark.createDataFrame(
        [
            ("P02", PATH, "good", full, None),
            ("P02", PATH, "missing two", {"ZH_ID": "kd-2", "DLSJ": "1591000000001"}, None),
            ("P02", PATH, "one extra", {**full, "BZ": "note"}, None),
            (
                "P02",
                PATH,
                "missing and extra",
                {"YH_ID": "u4", "DLSJ": "1", "DLQD": "app", "X1": "a", "X2": None},
                None,
            ),
            ("P02", PATH, "empty record", {}, None),
            ("P02", PATH, "not a record", None, "malformed_record"),
        ],
        RAW_SCHEMA,
    )
    got = to_bronze(raw, {"P02": contract}, "logins", spec)
    day = date(2020, 6, 2)
    expected = spark.createDataFrame(
        [
            ("P02", PATH, day, "good", None, [], {}, "kd-1", "u1", "1591000000000", "web"),
            ("P02", PATH, day, "missing two", None, ["user_id", "channel"], {}, "kd-2", None, "1591000000001", None),
            ("P02", PATH, day, "one extra", None, [], {"BZ": "note"}, "kd-1", "u1", "1591000000000", "web"),
            (
                "P02",
                PATH,
                day,
                "missing and extra",
                None,
                ["tenant_id"],
                {"X1": "a", "X2": None},
                None,
                "u4",
                "1",
                "app",
            ),
            (
                "P02",
                PATH,
                day,
                "empty record",
                None,
                ["tenant_id", "user_id", "event_ts", "channel"],
                {},
                None,
                None,
                None,
                None,
            ),
            # a record that did not parse misses nothing: it is malformed, once
            ("P02", PATH, day, "not a record", "malformed_record", [], {}, None, None, None, None),
        ],
        "platform_id string, source_file string, delivery_date date, raw_record string, parse_error string, "
        "missing_fields array<string>, "
        "extra_fields map<string,string>, tenant_id string, user_id string, event_ts string, channel string",
    )
    assert got.columns == expected.columns
    assertDataFrameEqual(got, expected)
