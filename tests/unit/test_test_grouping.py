"""The suite's own scheduling: `make test` keeps each module (and the modules sharing the one-shot lakehouse) on one
xdist worker, so a module's fixtures are built once. Two things had silently undone it, so that every module fixture
was built on both workers: pytest 9.2 with pytest-xdist 3.8 drops the groups (pytest-dev/pytest-xdist#1386), and
tests/conftest.py marked the items after xdist had read the marks."""

import os

import pytest


def test_under_loadgroup_each_test_carries_its_module_group(request):
    if request.config.getoption("dist", "no") == "no" and "PYTEST_XDIST_WORKER" not in os.environ:
        pytest.skip("a run without xdist workers has no groups")
    assert request.node.nodeid.endswith("::test_under_loadgroup_each_test_carries_its_module_group@" + __name__)
