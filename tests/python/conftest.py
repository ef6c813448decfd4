"""Fixtures of the Python-package tests (helpers live in helpers.py).

Makes tests/netns.py importable (VethPair, send_udp, entered). Run with
/usr/bin/python3 -m pytest -q tests/python and PYTHONPATH=build/python
(ctest does this), or after `pip install` with no PYTHONPATH.
"""
import os
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
sys.path.insert(0, HERE)

import netns  # noqa: E402
from helpers import CLib, udp_frame, write_pcap  # noqa: E402


@pytest.fixture
def small_pcap(tmp_path):
    """A pcap of 10 UDP frames with distinct payloads, ports and times;
    returns (path, records)."""
    base = 1_700_000_000_123_456_000
    records = []
    for i in range(10):
        payload = bytes([i]) * (10 + 7 * i)
        records.append((base + i * 1_000_001_000, udp_frame(payload, dst_port=5000 + i % 3)))
    return write_pcap(tmp_path / "small.pcap", records), records


@pytest.fixture
def pair():
    if os.geteuid() != 0:
        pytest.skip("network namespaces need root")
    with netns.VethPair(prefix="ipmpy") as p:
        yield p


@pytest.fixture(scope="session")
def clib():
    path = os.environ.get("IPM_SHARED_LIBRARY")
    if not path or not os.path.exists(path):
        pytest.skip("IPM_SHARED_LIBRARY not set (ctest sets it to build/src/libipmonitor.so)")
    return CLib(path)

