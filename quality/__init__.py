"""Data quality (Great Expectations suites, gates, Data Docs): see issue 'Data quality with Great Expectations'."""
