"""A pytest plugin for benchmarks/suite_cost.py --by-file: each test process appends, per test, when
its setup began and its teardown ended (one JSON line), so that processes can be charged to tests."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator

import pytest

LOG = os.environ.get("SUITE_COST_WINDOWS", "")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    started = time.time()
    cpu = time.process_time()
    yield
    if LOG:
        line = {
            "test": item.nodeid,
            "pid": os.getpid(),
            "start": started,
            "stop": time.time(),
            "cpu": time.process_time() - cpu,
        }
        with open(LOG, "a", encoding="utf-8") as log:
            log.write(json.dumps(line) + "\n")
