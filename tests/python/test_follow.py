"""IPMonitor.activate_matching: every adapter whose name matches, followed
while active (issue 10), on real traffic in two namespaces: an adapter made
during the run is announced (IPM_E_ADAPTER_ADDED) and counted exactly; one
deleted is IPM_E_ADAPTER_GONE through on_error, never an exception from
do_events, and the monitor stays active."""
import subprocess

import pytest

import ipmonitor
import netns
from helpers import run_until
from ipmonitor import IPMonitor


def test_activate_matching_follows_adapters(pair):
    extra_a, extra_b = f"vn{pair.tag}"[:15], f"vm{pair.tag}"[:15]
    m = IPMonitor()
    notices, counted = [], {}
    m.on_error = lambda e: notices.append((e.error_code, e.adapter, e.adapter_index))

    def count(e):
        counted[e.adapter] = counted.get(e.adapter, 0) + e.captured_packets
    m.on_statistics = count
    m.operation_mode = 1
    m.filter = "udp port 5000"
    with pair.a.entered():
        m.list_adapters()
        for i in range(m.adapter_count):
            m.set_adapter_packet_timeout(i, 50)
        with pytest.raises(TypeError):
            m.activate_matching("v*")
        with pytest.raises(ValueError):
            m.activate_matching([""])
        m.activate_matching(["v*", "!lo"])
        count0 = m.adapter_count
        subprocess.run(["ip", "link", "add", extra_a, "netns", pair.a.ns, "type", "veth", "peer", "name",
                        extra_b, "netns", pair.b.ns], check=True)
        for ns, name, ip in ((pair.a.ns, extra_a, "10.80.0.1/24"), (pair.b.ns, extra_b, "10.80.0.2/24")):
            subprocess.run(["ip", "-n", ns, "addr", "add", ip, "dev", name], check=True)
            subprocess.run(["ip", "-n", ns, "link", "set", name, "up"], check=True)
        run_until(m, lambda: any(c == ipmonitor.IPM_E_ADAPTER_ADDED for c, _, _ in notices))
        assert notices == [(ipmonitor.IPM_E_ADAPTER_ADDED, extra_a, count0)]
        assert m.adapter_count == count0 + 1
        netns.send_udp(pair.b, "10.77.0.1", 5000, [b"x"] * 4)
        # the new link: ARP first (no static neighbour), then the datagrams
        netns.send_udp(pair.b, "10.80.0.1", 5000, [b"y"] * 3)
        run_until(m, lambda: counted.get(extra_a, 0) >= 3 and counted.get(pair.a.ifname, 0) >= 4)
        subprocess.run(["ip", "-n", pair.a.ns, "link", "del", extra_a], check=True)
        run_until(m, lambda: len(notices) == 2)
        assert notices[1] == (ipmonitor.IPM_E_ADAPTER_GONE, extra_a, count0)
        for _ in range(3):
            m.do_events()  # no exception: a notice
        assert m.active
        assert counted[extra_a] == 3 and counted[pair.a.ifname] == 4
        assert "lo" not in counted
        m.deactivate()
