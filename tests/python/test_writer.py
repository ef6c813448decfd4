"""pcapfilter.Writer: packets saved from Python to pcapng (direction and
adapter kept) and pcap, judged by tshark and capinfos; failures as the
standard exceptions."""
import subprocess

import pytest

import ipmonitor
import pcapfilter
from helpers import activate_in, run_until
from ipmonitor import IPMonitor
from netns import send_udp


def tshark_fields(path, *fields):
    args = ["tshark", "-r", str(path), "-T", "fields"]
    for f in fields:
        args += ["-e", f]
    out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    return [line.split("\t") for line in out.splitlines()]


def test_writer_pcapng_and_pcap_from_a_file(small_pcap, tmp_path):
    path, records = small_pcap
    m = IPMonitor()
    ng, classic = tmp_path / "out.pcapng", tmp_path / "out.pcap"
    with pcapfilter.Writer(ng, monitor=m) as w, pcapfilter.Writer(str(classic)) as c:
        for pkt in m.packets(path):
            w.write(pkt)
            c.write(pkt)
        assert w.packets == c.packets == len(records)
    assert w.closed and c.closed
    rows = tshark_fields(ng, "frame.interface_name", "frame.len", "frame.time_epoch")
    assert [r[0] for r in rows] == [path] * len(records)
    assert [int(r[1]) for r in rows] == [len(r[1]) for r in records]
    assert [round(float(r[2]) * 1e6) for r in rows] == [r[0] // 1000 for r in records]
    info = subprocess.run(["capinfos", str(classic)], capture_output=True, text=True).stdout
    assert "nanosecond pcap" in info and f"Number of packets:   {len(records)}" in info
    info = subprocess.run(["capinfos", str(ng)], capture_output=True, text=True).stdout
    assert "pcapng" in info and "Capture application: ipmonitor" in info
    # read back by the library: the same bytes
    back = [p.data for p in IPMonitor().packets(str(ng))]
    assert back == [r[1] for r in records]


def test_writer_keeps_direction_live(pair, tmp_path):
    m = IPMonitor()
    m.filter = "udp port 6400"
    out = tmp_path / "live.pcapng"
    w = pcapfilter.Writer(out, monitor=m)
    m.on_packet = w.write
    activate_in(pair.a, m, timeout_ms=50)
    send_udp(pair.b, pair.a.ip4, 6400, [b"in"] * 3)
    send_udp(pair.a, pair.b.ip4, 6400, [b"out"] * 2)
    run_until(m, lambda: w.packets >= 5)
    m.deactivate()
    w.close()
    rows = tshark_fields(out, "frame.interface_name", "frame.packet_flags_direction", "ip.src")
    dirs = sorted((int(r[1], 0), r[2]) for r in rows)
    assert dirs == [(1, pair.b.ip4)] * 3 + [(2, pair.a.ip4)] * 2
    assert {r[0] for r in rows} == {pair.a.ifname}
    info = subprocess.run(["capinfos", "-M", str(out)], capture_output=True, text=True).stdout
    assert "Filter string = udp port 6400" in info


def test_writer_failures(small_pcap, tmp_path):
    path, _ = small_pcap
    m = IPMonitor()
    pkts = list(m.packets(path))
    with pytest.raises(ipmonitor.IPMonitorOSError) as info:
        with pcapfilter.Writer("/dev/full", format="pcap") as w:
            for p in pkts * 2000:
                w.write(p)
    assert "No space left on device" in str(info.value)
    with pytest.raises(OSError, match="No such file or directory"):
        pcapfilter.Writer(tmp_path / "no" / "such" / "dir.pcapng")
    with pytest.raises(ValueError):
        pcapfilter.Writer(tmp_path / "x.pcapng", format="csv")
    w = pcapfilter.Writer(tmp_path / "x.pcapng")
    with pytest.raises(TypeError):
        w.write(b"not a packet")
    w.close()
    w.close()  # twice is fine
    with pytest.raises(ValueError, match="closed"):
        w.write(pkts[0])
