"""Introspection: every method says its signature (inspect.signature, IDEs)
with the reference's parameter names, and takes those names as keywords."""
import inspect
import os
import re

import pytest

import ipmonitor
from ipmonitor import IPMonitor

REFERENCE = os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "spec",
                         "IPMonitor-reference.txt")


def reference_methods():
    """(name, [parameter names]) of every `def` line of the reference."""
    if not os.path.exists(REFERENCE):
        pytest.skip(f"the reference page is not at {REFERENCE}")
    found = {}
    with open(REFERENCE, encoding="utf-8") as f:
        for line in f:
            m = re.match(r"^def (\w+)\((.*)\) ->", line)
            if m and not m.group(1).startswith("on_"):
                params = [p.split(":")[0].strip() for p in m.group(2).split(",") if p.strip()]
                found[m.group(1)] = params
    return found


def test_every_reference_method_has_its_signature():
    m = IPMonitor()
    methods = reference_methods()
    assert len(methods) > 30
    for name, params in methods.items():
        sig = inspect.signature(getattr(m, name))
        assert list(sig.parameters) == params, (name, sig)


def test_every_public_method_has_a_signature():
    m = IPMonitor()
    for name in dir(m):
        attr = getattr(m, name)
        if not name.startswith("_") and callable(attr):
            inspect.signature(attr)  # raises ValueError where there is none
    assert list(inspect.signature(IPMonitor).parameters) == ["raise_hook_errors"]


def test_parameters_by_keyword(small_pcap):
    path, records = small_pcap
    m = IPMonitor()
    m.set_tag(value=5)
    assert m.get_tag() == 5
    m.set_filter(value="udp")
    m.set_direction(value=ipmonitor.PACKET_DIRECTION_ANY)
    assert m.config(configuration_string="StatisticsDetail") == "False"
    with pytest.raises(IndexError):
        m.get_adapter_name(adapter_index=0)
    with pytest.raises(TypeError):
        m.set_tag(val=5)
    m.activate(adapter=path)
    while m.active:
        m.do_events()
    got = m.get_statistics(received=[], dropped=[], adapter_dropped=[])
    assert got[0] == len(records)
