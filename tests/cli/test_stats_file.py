"""`ipmon stats -r FILE`: the statistics of a capture file, intervals cut by
the packets' own time stamps (interval k covers [t0 + k*I, t0 + (k+1)*I),
t0 the first packet's time), judged by Wireshark's tools on the same file:
each packet's time and length as tshark reads them (frame.time_epoch to the
nanosecond, frame.len), binned here with exact integer arithmetic, the
protocol split by tshark's own dissectors, the totals and duration by
capinfos."""
import json
import subprocess
from decimal import Decimal

import pytest

from conftest import IPMON, run_ipmon

scapy = pytest.importorskip("scapy.all")
from scapy.all import (ICMP, IP, TCP, UDP, Ether, IPv6, Raw, wrpcap)  # noqa: E402

M1, M2 = "02:00:00:00:00:01", "02:00:00:00:00:02"
T0 = Decimal("1700000000.123456789")
# Offsets from the first packet, in seconds: bursts, an exact interval
# boundary (1.000000000 belongs to the second interval), a gap of empty
# intervals, and one packet stamped earlier than the one before.
OFFSETS = ["0", "0.1", "0.999999999", "1.000000000", "1.5", "1.5", "2.25", "6.0", "6.999", "5.5",
           "9.75", "10.000000001"]


def packet(i):
    kind = i % 4
    if kind == 0:
        return Ether(src=M1, dst=M2) / IP(src="10.0.0.1", dst="10.0.0.2") / UDP(sport=1000 + i, dport=53) / Raw(b"u" * i)
    if kind == 1:
        return Ether(src=M1, dst=M2) / IP(src="10.0.0.1", dst="10.0.0.2") / TCP(sport=2000, dport=80, flags="PA") / Raw(b"t" * (3 * i))
    if kind == 2:
        return Ether(src=M1, dst=M2) / IP(src="10.0.0.2", dst="10.0.0.1") / ICMP()
    return Ether(src=M1, dst=M2) / IPv6(src="2001:db8::1", dst="2001:db8::2") / UDP(sport=5, dport=6) / Raw(b"6" * (i + 7))


@pytest.fixture
def trace(tmp_path):
    f = tmp_path / "trace.pcap"
    pkts = []
    for i, off in enumerate(OFFSETS):
        p = packet(i)
        p.time = T0 + Decimal(off)
        pkts.append(p)
    wrpcap(str(f), pkts, nano=True)
    return f


def tshark_fields(path, *fields, display_filter=None):
    cmd = ["tshark", "-r", str(path), "-T", "fields"] + [a for f in fields for a in ("-e", f)]
    if display_filter:
        cmd += ["-Y", display_filter]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return [line.split("\t") for line in r.stdout.splitlines()]


def ns(text):
    return int(Decimal(text) * 1000000000)


def expected_intervals(path, interval, display_filter=None):
    """[(packets, bytes)] per interval, from tshark's time stamps and
    lengths; t0 is the first counted packet's (with a filter, the first
    that passes it)."""
    rows = [(ns(t), int(n)) for t, n in tshark_fields(path, "frame.time_epoch", "frame.len",
                                                        display_filter=display_filter)]
    step = int(Decimal(interval) * 1000000000)
    t0 = rows[0][0]
    bins, current = [], 0
    for t, n in rows:
        k = max(current, (t - t0) // step)  # an earlier packet counts in the current interval
        while len(bins) <= k:
            bins.append([0, 0])
        bins[k][0] += 1
        bins[k][1] += n
        current = k
    return [tuple(b) for b in bins]


def ipmon_stats(*args, stdin=None):
    r = subprocess.run([IPMON, "stats", *args], capture_output=True, text=True, timeout=60, stdin=stdin)
    assert r.returncode == 0, r.stderr
    return r


def parse_lines(out):
    rows = []
    for line in out.splitlines():
        label, adapter, rest = line.split(" ", 2)
        rows.append((label, adapter, {k: v for k, v in (kv.split("=") for kv in rest.split())}))
    return [r for r in rows if r[0] != "total"], [r for r in rows if r[0] == "total"]


def capinfos(path):
    r = subprocess.run(["capinfos", "-M", "-T", "-r", "-c", "-d", "-u", str(path)], capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 0, r.stderr
    _, packets, data, duration = r.stdout.strip().split("\t")
    return int(packets), int(data), Decimal(duration)


@pytest.mark.parametrize("interval", ["1", "0.5", "2.5"])
def test_plain_intervals_are_the_files(trace, interval):
    r = ipmon_stats("-r", str(trace), "-I", interval)
    assert r.stderr == f"reading from file {trace}, link-type EN10MB (Ethernet), interval {Decimal(interval).normalize():f} s\n"
    intervals, totals = parse_lines(r.stdout)
    want = expected_intervals(trace, interval)
    assert [(int(f["packets"]), int(f["bytes"])) for _, _, f in intervals] == want
    assert any(b == (0, 0) for b in want)  # empty intervals inside the trace are printed
    assert all(a == str(trace) for _, a, _ in intervals)
    assert all(Decimal(f["seconds"]) == Decimal(interval) for _, _, f in intervals)
    for _, _, f in intervals:
        assert Decimal(f["pps"]) == round(Decimal(f["packets"]) / Decimal(interval), 1)
    # totals: capinfos' packets, bytes and duration
    packets, data, duration = capinfos(trace)
    (_, _, t), = totals
    assert (int(t["packets"]), int(t["bytes"])) == (packets, data) == (len(OFFSETS), sum(b for _, b in want))
    assert Decimal(t["seconds"]) == round(duration, 3)
    # the protocol and family split, by tshark's dissectors
    for key, flt in [("tcp", "tcp"), ("udp", "udp"), ("icmp", "icmp"), ("ipv4", "ip"), ("ipv6", "ipv6")]:
        assert int(t[key]) == len(tshark_fields(trace, "frame.number", display_filter=flt)), key
    assert (t["drops"], t["in_packets"], t["out_packets"]) == ("0", "0", "0")  # classic pcap: no direction


def test_json_has_the_live_keys(trace, veth):
    r = ipmon_stats("-r", str(trace), "-I", "1", "--json")
    recs = [json.loads(line) for line in r.stdout.splitlines()]
    intervals = [x for x in recs if x["type"] == "interval"]
    totals = [x for x in recs if x["type"] == "total"]
    assert [(x["packets"], x["bytes"]) for x in intervals] == expected_intervals(trace, "1")
    assert len(totals) == 1 and totals[0]["packets"] == len(OFFSETS)
    # each interval's "time" is its start, in the file's time (UTC, ms)
    assert intervals[0]["time"] == "2023-11-14T22:13:20.123Z" and intervals[3]["time"] == "2023-11-14T22:13:23.123Z"
    # the same keys, in the same order, as live `ipmon stats --json`
    live = run_ipmon("stats", "-i", veth.a.ifname, "-I", "0.1", "-t", "0.2", "--json", host=veth.a)
    assert live.returncode == 0, live.stderr
    live_recs = [json.loads(line) for line in live.stdout.splitlines()]
    assert {tuple(x) for x in live_recs if x["type"] == "interval"} == {tuple(x) for x in intervals}
    assert [list(x) for x in live_recs if x["type"] == "total"] == [list(x) for x in totals]
    for k in ("tcp_packets", "udp_packets", "icmp_packets", "ipv4_packets", "ipv6_packets"):
        assert sum(x[k] for x in intervals) == totals[0][k]


def test_filter_applies(trace):
    r = ipmon_stats("-r", str(trace), "-I", "1", "udp")
    intervals, totals = parse_lines(r.stdout)
    want = expected_intervals(trace, "1", display_filter="udp")
    assert [(int(f["packets"]), int(f["bytes"])) for _, _, f in intervals] == want
    (_, _, t), = totals
    assert int(t["packets"]) == sum(p for p, _ in want) == int(t["udp"]) and t["tcp"] == "0"


def test_standard_input(trace):
    with open(trace, "rb") as stdin:
        r = ipmon_stats("-r", "-", "-I", "1", stdin=stdin)
    assert r.stderr.startswith("reading from file -, link-type EN10MB")
    intervals, totals = parse_lines(r.stdout)
    assert all(a == "-" for _, a, _ in intervals + totals)
    assert [(int(f["packets"]), int(f["bytes"])) for _, _, f in intervals] == expected_intervals(trace, "1")


def test_pcapng(trace, tmp_path):
    ng = tmp_path / "trace.pcapng"
    subprocess.run(["editcap", "-F", "pcapng", str(trace), str(ng)], check=True, timeout=30)
    r = ipmon_stats("-r", str(ng), "-I", "1")
    intervals, totals = parse_lines(r.stdout)
    assert [(int(f["packets"]), int(f["bytes"])) for _, _, f in intervals] == expected_intervals(ng, "1")
    (_, _, t), = totals
    assert (int(t["packets"]), int(t["bytes"])) == capinfos(ng)[:2]


def pcapng_block(kind, body):
    import struct
    body += b"\0" * (-len(body) % 4)
    return struct.pack("<II", kind, len(body) + 12) + body + struct.pack("<I", len(body) + 12)


def pcapng_option(code, value):
    import struct
    return struct.pack("<HH", code, len(value)) + value + b"\0" * (-len(value) % 4)


def two_interface_pcapng(path):
    """A pcapng file (written here block by block) with interfaces ethA and
    ethB, nanosecond stamps, and each packet's direction in epb_flags:
    [(interface, direction, packet, offset)]."""
    import struct
    plan = [(0, 1, packet(0), "0"), (1, 2, packet(1), "0.2"), (0, 2, packet(2), "0.7"), (0, 1, packet(3), "1.1"),
            (1, 1, packet(4), "3.3"), (1, 0, packet(8), "3.4")]
    out = pcapng_block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))
    for name in (b"ethA", b"ethB"):
        opts = pcapng_option(2, name) + pcapng_option(9, b"\x09") + b"\0\0\0\0"
        out += pcapng_block(1, struct.pack("<HHI", 1, 0, 0) + opts)
    for itf, direction, pkt, off in plan:
        data = bytes(pkt)
        t = int((T0 + Decimal(off)) * 1000000000)
        opts = pcapng_option(2, struct.pack("<I", direction)) + b"\0\0\0\0"
        out += pcapng_block(6, struct.pack("<IIIII", itf, t >> 32, t & 0xffffffff, len(data), len(data)) + data
                            + b"\0" * (-len(data) % 4) + opts)
    path.write_bytes(out)
    return plan


def test_pcapng_interfaces_and_directions(tmp_path):
    """A line per interface of the file, by its name, with in and out
    counted from the packets' epb_flags; tshark reads the same names and
    directions."""
    src = tmp_path / "two.pcapng"
    two_interface_pcapng(src)
    seen = tshark_fields(src, "frame.interface_name", "frame.packet_flags_direction", "frame.len")
    assert {r[0] for r in seen} == {"ethA", "ethB"}
    r = ipmon_stats("-r", str(src), "-I", "1")
    intervals, totals = parse_lines(r.stdout)
    want = {}
    for name, direction, length in seen:
        w = want.setdefault(name, {"packets": 0, "bytes": 0, "in_packets": 0, "in_bytes": 0, "out_packets": 0,
                                   "out_bytes": 0})
        w["packets"] += 1
        w["bytes"] += int(length)
        side = {1: "in", 2: "out"}.get(int(direction, 16))  # 0x1 inbound, 0x2 outbound, 0 unknown
        if side:
            w[side + "_packets"] += 1
            w[side + "_bytes"] += int(length)
    assert {a: {k: int(f[k]) for k in want[a]} for _, a, f in totals} == want
    # 4 intervals by file time, each with both interfaces once both were seen
    assert [(l, a) for l, a, _ in intervals][:3] == [(intervals[0][0], "ethA"), (intervals[0][0], "ethB"),
                                                     (intervals[2][0], "ethA")]
    per = {}
    for _, a, f in intervals:
        per.setdefault(a, []).append(int(f["packets"]))
    assert per == {"ethA": [2, 1, 0, 0], "ethB": [1, 0, 0, 2]}


def test_missing_file_is_one_line():
    r = run_ipmon("stats", "-r", "/nonexistent/trace.pcap")
    assert r.returncode == 1
    assert r.stdout == ""
    assert len(r.stderr.splitlines()) == 1 and "/nonexistent/trace.pcap" in r.stderr


def test_garbage_on_stdin_is_one_line():
    r = run_ipmon("stats", "-r", "-", input="this is not a capture file\n" * 10)
    assert r.returncode == 1
    assert len(r.stderr.splitlines()) == 1 and "standard input (-r -)" in r.stderr


@pytest.mark.parametrize("args,words", [(["-r", "x.pcap", "-i", "lo"], "-i"), (["-r", "x.pcap", "-t", "5"], "-t"),
                                        (["-r", "x.pcap", "--engine", "ring"], "--engine"), (["-r", ""], "-r")])
def test_usage_errors(args, words):
    r = run_ipmon("stats", *args)
    assert r.returncode == 2
    assert len(r.stderr.splitlines()) == 1 and words in r.stderr


def test_truncated_file_counts_what_is_whole(trace, tmp_path):
    cut = tmp_path / "cut.pcap"
    data = trace.read_bytes()
    cut.write_bytes(data[:len(data) - 10])  # the last record cut short
    r = run_ipmon("stats", "-r", str(cut), "-I", "1")
    assert r.returncode == 1
    errors = [l for l in r.stderr.splitlines() if not l.startswith("reading from file")]
    assert len(errors) == 1 and "truncated" in errors[0]
    whole = subprocess.run(["tshark", "-r", str(cut), "-T", "fields", "-e", "frame.number"], capture_output=True,
                           text=True, timeout=30).stdout.split()
    _, totals = parse_lines(r.stdout)
    assert int(totals[0][2]["packets"]) == len(whole) == len(OFFSETS) - 1
