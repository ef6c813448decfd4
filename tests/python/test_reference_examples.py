"""Each example of the reference page, in Python, against real traffic: two
network namespaces joined by a veth pair (tests/netns.py), capture on side
`a`, traffic sent from `b` (and from `a` for the outgoing direction).
Counts, bytes and directions are exact; tcpdump, capturing the same
interface at the same time, cross-checks the bytes.
"""
import datetime
import socket
import subprocess
import threading
import time

import pytest

import ipmonitor
from helpers import activate_in, run_until
from netns import send_udp
from pcapfilter import IPMonitor

PORT = 5555


def _frame_len(payload, ipv6=False):
    return 14 + (40 if ipv6 else 20) + 8 + len(payload)


def _settle(mon, rounds=2):
    """A few more do_events rounds so that any unexpected extra packet shows."""
    for _ in range(rounds):
        mon.do_events()


def test_retrieving_network_adapters(pair):
    # ipmonitor.ListAdapters(); foreach (adapter in Adapters) print name, description
    ipmonitor_ = IPMonitor()
    with pair.a.entered():
        ipmonitor_.list_adapters()
    names = []
    for i in range(ipmonitor_.adapter_count):
        names.append(ipmonitor_.get_adapter_name(i))
        assert isinstance(ipmonitor_.get_adapter_description(i), str)
    assert pair.a.ifname in names and "lo" in names
    assert pair.b.ifname not in names  # the other namespace's end
    shown = pair.a.exec("ip", "-o", "link", "show", capture_output=True, text=True).stdout
    for line in shown.splitlines():
        assert line.split(":")[1].strip().split("@")[0] in names


def test_adapter_metadata_inside_a_namespace(pair):
    # Run where /sys also belongs to the namespace, as an application would.
    code = ("import ipmonitor; m = ipmonitor.IPMonitor(); m.list_adapters(); "
            f"i = m.find_adapter('{pair.a.ifname}'); "
            "print(m.get_adapter_mac_address(i), m.get_adapter_id(i), m.get_adapter_interface_type(i), "
            "m.get_adapter_ipv4_addresses(i), m.get_adapter_is_up(i))")
    import os
    import sys
    out = pair.a.exec(sys.executable, "-c", code, capture_output=True, text=True,
                      env=dict(os.environ)).stdout.split()
    ifindex = pair.a.exec("cat", f"/sys/class/net/{pair.a.ifname}/ifindex",
                          capture_output=True, text=True).stdout.strip()
    assert out == [pair.a.mac.upper().replace(":", "-"), ifindex, "6", "10.77.0.1/24", "True"]


def test_packet_filters_direction_and_filter_expression(pair):
    # ipmonitor.Direction = PACKET_DIRECTION_INCOMING;
    # ipmonitor.Filter = "src host 192.168.1.1 and tcp port 80";  (here: b's address)
    ipmonitor_ = IPMonitor()
    ipmonitor_.direction = ipmonitor.Constants.PACKET_DIRECTION_INCOMING
    ipmonitor_.filter = f"src host {pair.b.ip4} and tcp port 80"
    got = []
    ipmonitor_.on_packet = lambda e: got.append((e.direction, e.data))
    activate_in(pair.a, ipmonitor_)

    server = pair.a.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind((pair.a.ip4, 80))
    server.listen(1)
    client = pair.b.socket(socket.AF_INET, socket.SOCK_STREAM)
    client.connect((pair.a.ip4, 80))
    conn, _ = server.accept()
    client.sendall(b"GET / HTTP/1.0\r\n\r\n")
    assert conn.recv(100) == b"GET / HTTP/1.0\r\n\r\n"
    conn.sendall(b"HTTP/1.0 200 OK\r\n\r\n")  # a -> b: outgoing, must not show
    client.recv(100)
    send_udp(pair.b, pair.a.ip4, 80, [b"udp, not tcp"])  # matches no filter
    client.close()
    conn.close()
    server.close()

    def has_fin():
        return any(d[47] & 0x01 for _, d in got)
    run_until(ipmonitor_, has_fin)
    _settle(ipmonitor_)
    ipmonitor_.deactivate()

    src, dst = socket.inet_aton(pair.b.ip4), socket.inet_aton(pair.a.ip4)
    assert got
    for direction, d in got:
        assert direction == ipmonitor.PACKET_DIRECTION_INCOMING
        assert d[26:30] == src and d[30:34] == dst and d[23] == 6  # IPv4 TCP from b
        assert int.from_bytes(d[36:38], "big") == 80  # to port 80
    assert any(d[47] & 0x02 for _, d in got)  # the SYN
    assert any(d.endswith(b"GET / HTTP/1.0\r\n\r\n") for _, d in got)


def test_capture_mode_on_packet(pair):
    # ipmonitor.OperationMode = 0; OnPacket: print TimeStamp and PacketSize
    ipmonitor_ = IPMonitor()
    ipmonitor_.operation_mode = 0
    ipmonitor_.filter = f"udp dst port {PORT}"
    got = []

    def on_packet(e):
        got.append((e.time_stamp, e.packet_size, e.data_size, e.data, e.direction, e.adapter))
    ipmonitor_.on_packet = on_packet
    activate_in(pair.a, ipmonitor_)
    payloads = [bytes([65 + i]) * (1 + 100 * i) for i in range(12)]

    # tcpdump captures the same packets at the same time, to compare bytes.
    pcap = f"/tmp/ipmpy-{pair.tag}.pcap"
    dump = pair.a.popen("tcpdump", "-i", pair.a.ifname, "-nn", "-U", "--immediate-mode",
                        "-c", str(len(payloads)), "-w", pcap, f"udp dst port {PORT}",
                        stderr=subprocess.PIPE, text=True)
    try:
        assert "listening on" in dump.stderr.readline()
        before = datetime.datetime.now()
        send_udp(pair.b, pair.a.ip4, PORT, payloads)
        run_until(ipmonitor_, lambda: len(got) >= len(payloads))
        after = datetime.datetime.now()
        _settle(ipmonitor_)
        dump.wait(timeout=10)
    finally:
        if dump.poll() is None:
            dump.kill()
            dump.wait()
        dump.stderr.close()
    ipmonitor_.deactivate()

    assert [g[3][42:] for g in got] == payloads
    for (ts, size, dsize, data, direction, adapter), p in zip(got, payloads):
        assert size == dsize == len(data) == _frame_len(p)
        assert before - datetime.timedelta(seconds=1) <= ts <= after
        assert direction == ipmonitor.PACKET_DIRECTION_INCOMING
        assert adapter == pair.a.ifname
        assert data[0:6] == bytes.fromhex(pair.a.mac.replace(":", ""))
    from scapy.all import rdpcap
    try:
        assert [bytes(p) for p in rdpcap(pcap)] == [g[3] for g in got]
    finally:
        subprocess.run(["rm", "-f", pcap])


def test_statistical_mode_on_statistics(pair):
    # ipmonitor.OperationMode = 1; OnStatistics: print CapturedPackets, CapturedBytes
    ipmonitor_ = IPMonitor()
    ipmonitor_.operation_mode = 1
    ipmonitor_.filter = f"udp dst port {PORT}"
    stats = []
    ipmonitor_.on_statistics = lambda e: stats.append((e.time_stamp, e.captured_packets,
                                                       e.captured_bytes, e.adapter))
    activate_in(pair.a, ipmonitor_)
    payloads = [b"s" * (10 * i) for i in range(1, 21)]
    send_udp(pair.b, pair.a.ip4, PORT, payloads)
    send_udp(pair.b, pair.a.ip4, PORT + 1, [b"not counted"])
    run_until(ipmonitor_, lambda: sum(s[1] for s in stats) >= len(payloads))
    _settle(ipmonitor_)
    ipmonitor_.deactivate()
    assert sum(s[1] for s in stats) == len(payloads)
    assert sum(s[2] for s in stats) == sum(_frame_len(p) for p in payloads)
    assert all(s[3] == pair.a.ifname for s in stats)
    assert all(isinstance(s[0], datetime.datetime) for s in stats)


@pytest.mark.parametrize("engine", ["auto", "kernel", "ring"])
def test_statistics_engines_count_alike(pair, engine):
    """The same traffic, the same counts from each statistics engine; auto
    (the default) counts in the kernel when the process may load BPF."""
    m = IPMonitor()
    m.operation_mode = 1
    m.filter = f"udp dst port {PORT}"
    if engine != "auto":
        assert m.config(f"StatisticsEngine={engine}") == ""
    stats = []
    m.on_statistics = lambda e: stats.append((e.captured_packets, e.captured_bytes))
    activate_in(pair.a, m)
    assert m.config("StatisticsEngine") == ("kernel" if engine == "auto" else engine)
    assert m.config("StatisticsEngineReason") == ""
    payloads = [b"e" * (7 * i) for i in range(1, 31)]
    send_udp(pair.b, pair.a.ip4, PORT, payloads)
    send_udp(pair.b, pair.a.ip4, PORT + 1, [b"not counted"])
    run_until(m, lambda: sum(s[0] for s in stats) >= len(payloads))
    _settle(m)
    m.deactivate()
    assert sum(s[0] for s in stats) == len(payloads)
    assert sum(s[1] for s in stats) == sum(_frame_len(p) for p in payloads)
    received, dropped = m.get_statistics()[:2]
    assert (received, dropped) == (len(payloads), 0)


def test_capture_statistics_get_statistics(pair):
    # ipmonitor.GetStatistics(ref received, ref dropped, ref adapterDropped)
    ipmonitor_ = IPMonitor()
    ipmonitor_.filter = f"udp dst port {PORT}"
    got = []
    ipmonitor_.on_packet = got.append
    activate_in(pair.a, ipmonitor_)
    send_udp(pair.b, pair.a.ip4, PORT, [b"1", b"22", b"333", b"4444", b"55555"])
    run_until(ipmonitor_, lambda: len(got) >= 5)
    _settle(ipmonitor_)
    receivedPackets, droppedPackets, adapterDroppedPackets = [0], [0], [0]
    ipmonitor_.get_statistics(receivedPackets, droppedPackets, adapterDroppedPackets)
    assert receivedPackets[0] == 5
    assert droppedPackets[0] == 0 and adapterDroppedPackets[0] >= 0
    ipmonitor_.deactivate()
    assert ipmonitor_.get_statistics()[0] == 5  # kept after deactivate


def test_deactivating_monitoring(pair):
    # ipmonitor.Deactivate();
    ipmonitor_ = IPMonitor()
    ipmonitor_.filter = f"udp dst port {PORT}"
    got = []
    ipmonitor_.on_packet = got.append
    activate_in(pair.a, ipmonitor_)
    assert ipmonitor_.active is True
    send_udp(pair.b, pair.a.ip4, PORT, [b"before"])
    run_until(ipmonitor_, lambda: len(got) == 1)
    ipmonitor_.deactivate()
    assert ipmonitor_.active is False
    send_udp(pair.b, pair.a.ip4, PORT, [b"after"])
    t0 = time.monotonic()
    ipmonitor_.do_events()  # returns at once when inactive
    assert time.monotonic() - t0 < 0.5
    assert len(got) == 1


def test_filter_simple_example_host(pair):
    # ipmonitor.Filter = "host 192.168.1.1";  (here: b's address), both directions
    ipmonitor_ = IPMonitor()
    ipmonitor_.filter = f"host {pair.b.ip4} and udp"
    got = []
    ipmonitor_.on_packet = lambda e: got.append((e.direction, e.data[42:]))
    activate_in(pair.a, ipmonitor_)
    send_udp(pair.a, pair.b.ip4, PORT, [b"out1", b"out2"])
    send_udp(pair.b, pair.a.ip4, PORT, [b"in1"])
    send_udp(pair.b, pair.a.ip6, PORT, [b"v6 is not host ip4"])
    run_until(ipmonitor_, lambda: len(got) >= 3)
    _settle(ipmonitor_)
    ipmonitor_.deactivate()
    OUT, IN = ipmonitor.PACKET_DIRECTION_OUTGOING, ipmonitor.PACKET_DIRECTION_INCOMING
    assert sorted(got) == sorted([(OUT, b"out1"), (OUT, b"out2"), (IN, b"in1")])


@pytest.mark.parametrize("direction,expected", [
    (ipmonitor.PACKET_DIRECTION_ANY, {b"in", b"out"}),
    (ipmonitor.PACKET_DIRECTION_INCOMING, {b"in"}),
    (ipmonitor.PACKET_DIRECTION_OUTGOING, {b"out"}),
])
def test_direction_values(pair, direction, expected):
    m = IPMonitor()
    m.direction = direction
    m.filter = f"udp port {PORT}"
    got = []
    m.on_packet = lambda e: got.append(e.data[42:])
    activate_in(pair.a, m)
    for _ in range(3):
        send_udp(pair.a, pair.b.ip4, PORT, [b"out"])
        send_udp(pair.b, pair.a.ip4, PORT, [b"in"])
    run_until(m, lambda: len(got) >= 3 * len(expected))
    _settle(m)
    m.deactivate()
    assert sorted(got) == sorted(list(expected) * 3)


def test_list_adapters_then_activate_the_first(pair):
    # ipmonitor.ListAdapters(); ipmonitor.Activate(ipmonitor.Adapters[0].Name);
    ipmonitor_ = IPMonitor()
    with pair.a.entered():
        ipmonitor_.list_adapters()
        ipmonitor_.activate(ipmonitor_.get_adapter_name(0))
    assert ipmonitor_.active is True
    ipmonitor_.deactivate()
    assert ipmonitor_.active is False


def test_do_events_lets_other_threads_run_while_waiting(pair):
    m = IPMonitor()
    m.filter = "udp port 9"  # no such traffic: do_events only waits
    activate_in(pair.a, m, timeout_ms=300)
    counter = [0]
    stop = threading.Event()

    def spin():
        while not stop.is_set():
            counter[0] += 1
    t = threading.Thread(target=spin)
    t.start()
    try:
        # The spinner's speed on this (shared) machine, while this thread
        # sleeps without the GIL: the yardstick for the do_events wait.
        b0 = counter[0]
        time.sleep(0.1)
        per_second = (counter[0] - b0) / 0.1
        c0 = counter[0]
        t0 = time.monotonic()
        m.do_events()
        waited = time.monotonic() - t0
        c1 = counter[0]
    finally:
        stop.set()
        t.join()
        m.deactivate()
    assert waited >= 0.2
    # Released, the spinner runs about as fast as during the sleep; held, it
    # would run one switch interval (5 ms) at most.
    assert c1 - c0 > 0.3 * per_second * waited, (c1 - c0, per_second, waited)


def test_deactivate_from_another_thread_while_do_events_waits(pair):
    m = IPMonitor()
    m.filter = "udp port 9"
    activate_in(pair.a, m, timeout_ms=5000)
    result = {}

    def stopper():
        # Wait until do_events runs (other calls get IPM_E_BUSY meanwhile).
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                m.get_tag()
            except ipmonitor.IPMonitorError as e:
                result["busy"] = e.code
                break
        assert m.active is True
        m.deactivate()
    t = threading.Thread(target=stopper)
    t0 = time.monotonic()
    t.start()
    m.do_events()
    took = time.monotonic() - t0
    t.join()
    assert result.get("busy") == ipmonitor.IPM_E_BUSY
    assert m.active is False
    assert took < 2.5, took  # woken, not the 5 s timeout


def test_ipv6_packets(pair):
    m = IPMonitor()
    m.filter = f"ip6 and udp dst port {PORT}"
    got = []
    m.on_packet = lambda e: got.append((e.packet_size, e.data[62:]))
    activate_in(pair.a, m)
    send_udp(pair.b, pair.a.ip6, PORT, [b"six", b"sixsix"])
    run_until(m, lambda: len(got) >= 2)
    _settle(m)
    m.deactivate()
    assert got == [(_frame_len(b"six", True), b"six"), (_frame_len(b"sixsix", True), b"sixsix")]
