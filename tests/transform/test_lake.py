"""A table's version and its newest commit's metadata, read from its Delta log's commit files."""

from delta.tables import DeltaTable

from etl import lake


def test_version_and_newest_commit_metadata_follow_the_log(spark, tmp_path):
    path = str(tmp_path / "t")
    assert (lake.version(spark, path), lake.last_commit_metadata(spark, path)) == (None, None)
    frame = spark.createDataFrame([(1,)], "n int")
    frame.write.format("delta").option("userMetadata", '{"event": "first"}').save(path)
    for i in range(11):  # past Delta's checkpoint at version 10
        frame.write.format("delta").mode("append").option("userMetadata", f"append {i}").save(path)
    assert lake.version(spark, path) == 11 == DeltaTable.forPath(spark, path).history(1).first()["version"]
    assert lake.last_commit_metadata(spark, path) == "append 10"
    frame.write.format("delta").mode("append").save(path)
    assert (lake.version(spark, path), lake.last_commit_metadata(spark, path)) == (12, None)
    assert lake.read(spark, path).count() == 13
