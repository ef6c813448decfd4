"""`ipmon capture -w FILE.pcapng`: one file for several adapters, each
packet with its interface and direction, judged by Wireshark's tools.

ipmon runs in namespace `a` on its veth and on its loopback at once. The
test sends known UDP datagrams: from b to a (incoming on the veth), from a
to b (outgoing on the veth) and over a's loopback; tshark must then show
each packet's interface name and direction as sent, in the order each
interface saw them, and capinfos the two interfaces and their statistics."""
import json
import subprocess

import pytest

import netns
from conftest import run_ipmon

ETH, IP4, UDP = 14, 20, 8
FILTER = "udp and (port 5101 or port 5102 or port 5103)"


def tshark_fields(path, *fields):
    args = ["tshark", "-r", str(path), "-T", "fields"]
    for f in fields:
        args += ["-e", f]
    out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    return [line.split("\t") for line in out.splitlines()]


def test_two_adapters_in_one_pcapng_with_names_and_directions(veth, start_ipmon, tmp_path):
    f = tmp_path / "both.pcapng"
    ins, outs, loops = [11, 222, 1000], [33, 444], [5, 55, 555, 1]
    total = len(ins) + len(outs) + len(loops)
    ip = start_ipmon(veth.a, "capture", "-i", veth.a.ifname, "-i", "lo", "-c", str(total), "-w", str(f), FILTER)
    ip.wait_listening()
    netns.send_udp(veth.b, veth.a.ip4, 5101, [b"i" * n for n in ins])
    netns.send_udp(veth.a, veth.b.ip4, 5102, [b"o" * n for n in outs])
    netns.send_udp(veth.a, "127.0.0.1", 5103, [b"l" * n for n in loops])
    rc, out, err = ip.finish()
    assert rc == 0, err
    assert f"listening on {veth.a.ifname}, lo," in err
    assert f"{total} packets captured\n" in err

    rows = tshark_fields(f, "frame.interface_name", "frame.packet_flags_direction", "udp.dstport", "udp.length")
    assert len(rows) == total, rows
    by_port = {}
    for name, direction, port, length in rows:
        by_port.setdefault(int(port), []).append((name, int(direction, 0), int(length) - UDP))
    # pcapng epb_flags direction: 1 inbound, 2 outbound.
    assert by_port[5101] == [(veth.a.ifname, 1, n) for n in ins]
    assert by_port[5102] == [(veth.a.ifname, 2, n) for n in outs]
    assert [(name, n) for name, _, n in by_port[5103]] == [("lo", n) for n in loops]

    # ipmon reads its file back: each packet with its interface and direction.
    r = run_ipmon("capture", "-r", str(f), "--json")
    assert r.returncode == 0, r.stderr
    back = [json.loads(line) for line in r.stdout.splitlines()]
    assert [(b["adapter"], b["direction"], b["dport"], b["payload_len"]) for b in back] == [
        (name, {1: "in", 2: "out"}.get(int(d, 0), "unknown"), int(port), int(length) - UDP)
        for name, d, port, length in rows]

    info = subprocess.run(["capinfos", "-M", str(f)], capture_output=True, text=True, check=True).stdout
    assert "File type:           pcapng" in info, info
    assert "Number of interfaces in file: 2" in info, info
    assert f"Name = {veth.a.ifname}" in info and "Name = lo" in info, info
    assert "Encapsulation = Ethernet" in info
    assert f"Number of packets = {len(ins) + len(outs)}" in info, info
    assert f"Number of packets = {len(loops)}" in info, info


def test_pcapng_by_flag_and_single_adapter_statistics(veth, start_ipmon, tmp_path):
    f = tmp_path / "named-anything.cap"
    ip = start_ipmon(veth.a, "capture", "-i", veth.a.ifname, "-c", "4", "--pcapng", "-w", str(f), FILTER)
    ip.wait_listening()
    netns.send_udp(veth.b, veth.a.ip4, 5101, [b"x" * 100] * 4)
    rc, out, err = ip.finish()
    assert rc == 0, err
    rows = tshark_fields(f, "frame.interface_name", "frame.packet_flags_direction", "frame.len")
    assert [(n, int(d, 0), int(size)) for n, d, size in rows] == [(veth.a.ifname, 1, ETH + IP4 + UDP + 100)] * 4
    # The statistics block: what the capture counted (tshark reads it as
    # the interface's drop count; capinfos prints the packets per interface).
    info = subprocess.run(["capinfos", "-M", str(f)], capture_output=True, text=True, check=True).stdout
    assert "Number of interfaces in file: 1" in info and "Number of packets = 4" in info, info
    # and the file is pcapng whatever its name; classic pcap stays the
    # default for other names (tcpdump's format)
    assert open(f, "rb").read(4) == b"\x0a\x0d\x0d\x0a"


def test_pcap_remains_the_default_for_other_names(veth, start_ipmon, tmp_path):
    f = tmp_path / "plain.pcap"
    ip = start_ipmon(veth.a, "capture", "-i", veth.a.ifname, "-c", "1", "-w", str(f), FILTER)
    ip.wait_listening()
    netns.send_udp(veth.b, veth.a.ip4, 5101, [b"x"])
    rc, out, err = ip.finish()
    assert rc == 0, err
    assert open(f, "rb").read(4) == b"\x4d\x3c\xb2\xa1"  # nanosecond pcap, little-endian


@pytest.mark.parametrize("args, needle", [
    (["-i", "lo", "-i", "lo"], "-i lo is given twice"),
    (["-i", "lo", "-i", "eth9", "-w", "x.pcap"], "a classic pcap file holds one adapter"),
    (["--pcapng"], "--pcapng chooses the format of the -w file: add -w FILE"),
    (["--pcap", "-i", "lo"], "--pcap chooses the format of the -w file"),
])
def test_bad_combinations_exit_2_with_one_line(args, needle):
    r = run_ipmon("capture", *args)
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], r.stderr


def test_several_adapters_one_unknown_exits_1(veth):
    r = run_ipmon("capture", "-i", "lo", "-i", "nosuch0", "-w", "/dev/null", "--pcapng", host=veth.a)
    assert r.returncode == 1, r.stderr
    assert r.stderr.strip() == "ipmon: no adapter named 'nosuch0' (see 'ipmon list')"


def test_any_names_the_real_interface_on_lines_and_in_pcapng(veth, start_ipmon, tmp_path):
    """-i any opens Linux cooked v2 (as tcpdump 4.99): each line names the
    interface the packet crossed, and a pcapng file gets one interface per
    real adapter, each packet with its direction."""
    ins, loops = [7, 70], [9, 90, 900]
    total = len(ins) + len(loops)
    ip = start_ipmon(veth.a, "capture", "-i", "any", "-c", str(total), "--json", FILTER)
    ip.wait_listening()
    netns.send_udp(veth.b, veth.a.ip4, 5101, [b"i" * n for n in ins])
    netns.send_udp(veth.a, "127.0.0.1", 5103, [b"l" * n for n in loops])
    rc, out, err = ip.finish()
    assert rc == 0, err
    assert "link-type LINUX_SLL2" in err, err
    got = [json.loads(line) for line in out.splitlines()]
    veth_rows = [(g["adapter"], g["direction"], g["payload_len"]) for g in got if g["dport"] == 5101]
    assert veth_rows == [(veth.a.ifname, "in", n) for n in ins]
    lo_rows = [g for g in got if g["dport"] == 5103]
    assert lo_rows and all(g["adapter"] == "lo" for g in lo_rows), lo_rows
    assert [g["payload_len"] for g in lo_rows] == loops[:len(lo_rows)]

    f = tmp_path / "any.pcapng"
    ip = start_ipmon(veth.a, "capture", "-i", "any", "-c", str(len(ins)), "-w", str(f), FILTER)
    ip.wait_listening()
    netns.send_udp(veth.b, veth.a.ip4, 5101, [b"i" * n for n in ins])
    rc, out, err = ip.finish()
    assert rc == 0, err
    rows = tshark_fields(f, "frame.interface_name", "frame.packet_flags_direction", "sll.ifindex", "udp.length")
    assert [(r[0], int(r[1], 0), int(r[3]) - UDP) for r in rows] == [(veth.a.ifname, 1, n) for n in ins]
    info = subprocess.run(["capinfos", "-M", str(f)], capture_output=True, text=True, check=True).stdout
    assert "Encapsulation = Linux cooked-mode capture v2" in info, info
