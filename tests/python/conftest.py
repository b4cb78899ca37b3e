"""Fixtures for the sluice Python tests: a unique namespace per test, removed
in teardown, and waiting on a condition with a deadline."""
import itertools
import os
import time

import pytest

import sluice

_counter = itertools.count()


def wait_for(cond, timeout=5.0, interval=0.001):
    """Polls cond() until it is true or `timeout` seconds pass; returns its last value."""
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v or time.monotonic() >= deadline:
            return v
        time.sleep(interval)


@pytest.fixture
def ns(request):
    """A namespace name unique to this test (and process), removed afterwards."""
    tag = "".join(c if c.isalnum() else "-" for c in request.node.name)[:30]
    name = f"py{os.getpid()}-{next(_counter)}-{tag}"
    yield name
    try:
        sluice.remove(name)
    except sluice.NotFound:
        pass


@pytest.fixture
def seg(ns):
    return sluice.open(ns, create=True)
