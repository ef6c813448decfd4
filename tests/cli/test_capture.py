"""`ipmon capture` end to end: known traffic between two namespaces joined by
a veth pair; ipmon runs in namespace `a`. The printed lines and JSON must
match what was sent (addresses, ports, protocol, lengths, direction); files
written with -w are read back by capinfos and tshark."""
import json
import re
import signal
import socket
import subprocess

import pytest

import netns
import conftest
from conftest import run_ipmon

ETH, IP4, IP6, UDP = 14, 20, 40, 8
TIME = r"\d\d:\d\d:\d\d\.\d{6}"


def sent_udp(veth, payloads, dst_ip="10.77.0.1", port=5000, src_port=40001):
    return netns.send_udp(veth.b, dst_ip, port, payloads, src_port=src_port)


def test_udp_ipv4_lines(veth, start_ipmon):
    sizes = [1, 100, 1000]
    ip = start_ipmon(veth.a, "capture", "-i", veth.a.ifname, "-c", "3", "-l", "udp", "port", "5000")
    ip.wait_listening()
    sent_udp(veth, [b"x" * n for n in sizes])
    rc, out, err = ip.finish()
    assert rc == 0, err
    lines = out.splitlines()
    assert len(lines) == 3, out
    for line, n in zip(lines, sizes):
        want = (rf"^{TIME} IN {veth.a.ifname} UDP 10\.77\.0\.2:40001 > 10\.77\.0\.1:5000 "
                rf"payload {n} len {ETH + IP4 + UDP + n}$")
        assert re.match(want, line), (line, want)
    assert "3 packets captured\n" in err
    assert re.search(r"^\d+ packets received by filter$", err, re.M), err
    assert "0 packets dropped by kernel\n" in err


def test_udp_ipv6_json(veth, start_ipmon):
    sizes = [7, 300]
    ip = start_ipmon(veth.a, "capture", "-i", veth.a.ifname, "-c", "2", "--json", "udp")
    ip.wait_listening()
    sent_udp(veth, [b"y" * n for n in sizes], dst_ip="fd77::1", port=5006, src_port=40002)
    rc, out, err = ip.finish()
    assert rc == 0, err
    recs = [json.loads(line) for line in out.splitlines()]
    assert len(recs) == 2
    for r, n in zip(recs, sizes):
        assert r["adapter"] == veth.a.ifname
        assert r["direction"] == "in"
        assert r["link_type"] == 1
        assert r["proto"] == "UDP" and r["ip_version"] == 6 and r["ip_proto"] == 17
        assert (r["src"], r["sport"], r["dst"], r["dport"]) == ("fd77::2", 40002, "fd77::1", 5006)
        assert r["len"] == r["caplen"] == ETH + IP6 + UDP + n
        assert r["payload_len"] == n
        assert r["mac_src"] == "02:77:00:00:00:02" and r["mac_dst"] == "02:77:00:00:00:01"
        assert r["ethertype"] == 0x86DD and r["tcp_flags"] is None and r["vlan"] is None
        assert re.match(r"^\d+\.\d{9}$", str(r["ts"])) or isinstance(r["ts"], float)
        assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$", r["time"])


def test_tcp_handshake_directions_and_flags(veth, start_ipmon):
    srv = veth.a.socket(socket.AF_INET, socket.SOCK_STREAM)
    cli = veth.b.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        srv.bind(("10.77.0.1", 8080))
        srv.listen(1)
        cli.bind(("10.77.0.2", 40003))
        ip = start_ipmon(veth.a, "capture", "-i", veth.a.ifname, "-c", "4", "--json", "tcp port 8080")
        ip.wait_listening()
        cli.connect(("10.77.0.1", 8080))
        conn, _ = srv.accept()
        cli.sendall(b"hello")
        assert conn.recv(5) == b"hello"
        rc, out, err = ip.finish()
        conn.close()
    finally:
        cli.close()
        srv.close()
    assert rc == 0, err
    recs = [json.loads(line) for line in out.splitlines()]
    got = [(r["direction"], r["src"], r["sport"], r["dst"], r["dport"], r["tcp_flags"], r["payload_len"])
           for r in recs]
    c, s = ("10.77.0.2", 40003), ("10.77.0.1", 8080)
    assert got == [
        ("in", *c, *s, "S", 0),
        ("out", *s, *c, "S.", 0),
        ("in", *c, *s, ".", 0),
        ("in", *c, *s, "P.", 5),
    ]
    assert all(r["proto"] == "TCP" for r in recs)
    # The SYN carries options: its length says so (Ethernet + IP + TCP header).
    assert recs[0]["len"] == ETH + IP4 + 40
    assert recs[3]["len"] == ETH + IP4 + 32 + 5


@pytest.mark.parametrize("v6", [False, True])
def test_ping_lines(veth, start_ipmon, v6):
    target = "fd77::1" if v6 else "10.77.0.1"
    flt = "icmp6 and ip6[40] < 130" if v6 else "icmp"  # echo only, no neighbour discovery
    ip = start_ipmon(veth.a, "capture", "-i", veth.a.ifname, "-c", "4", "-l", flt)
    ip.wait_listening()
    veth.b.exec("ping", "-c", "2", "-i", "0.2", target, stdout=subprocess.DEVNULL)
    rc, out, err = ip.finish()
    assert rc == 0, err
    lines = out.splitlines()
    proto, a, b = ("ICMPv6", "fd77::1", "fd77::2") if v6 else ("ICMP", "10.77.0.1", "10.77.0.2")
    size = ETH + (IP6 if v6 else IP4) + 8 + 56
    pat = [rf"^{TIME} IN {veth.a.ifname} {proto} {b} > {a} echo request id (\d+) seq 1 len {size}$",
           rf"^{TIME} OUT {veth.a.ifname} {proto} {a} > {b} echo reply id (\d+) seq 1 len {size}$",
           rf"^{TIME} IN {veth.a.ifname} {proto} {b} > {a} echo request id (\d+) seq 2 len {size}$",
           rf"^{TIME} OUT {veth.a.ifname} {proto} {a} > {b} echo reply id (\d+) seq 2 len {size}$"]
    assert len(lines) == 4, out
    ids = set()
    for line, p in zip(lines, pat):
        m = re.match(p, line)
        assert m, (line, p)
        ids.add(m.group(1))
    assert len(ids) == 1


@pytest.mark.parametrize("q, want", [("in", "IN"), ("out", "OUT")])
def test_direction_option(veth, start_ipmon, q, want):
    ip = start_ipmon(veth.a, "capture", "-i", veth.a.ifname, "-Q", q, "-c", "2", "-l", "icmp")
    ip.wait_listening()
    veth.b.exec("ping", "-c", "2", "-i", "0.2", "10.77.0.1", stdout=subprocess.DEVNULL)
    rc, out, err = ip.finish()
    assert rc == 0, err
    lines = out.splitlines()
    assert len(lines) == 2
    kind = "echo request" if want == "IN" else "echo reply"
    for seq, line in enumerate(lines, 1):
        assert f" {want} {veth.a.ifname} ICMP " in line and f"{kind} id" in line and f"seq {seq} " in line, line


def test_filter_selects(veth, start_ipmon):
    ip = start_ipmon(veth.a, "capture", "-i", veth.a.ifname, "-c", "2", "-l", "udp", "and", "dst", "port", "5001")
    ip.wait_listening()
    sent_udp(veth, [b"a"], port=5000)
    sent_udp(veth, [b"bb"], port=5001, src_port=40004)
    sent_udp(veth, [b"c"], port=5000)
    sent_udp(veth, [b"ddd"], port=5001, src_port=40004)
    rc, out, err = ip.finish()
    assert rc == 0, err
    lines = out.splitlines()
    assert [line.split(" ", 1)[1] for line in lines] == [
        f"IN {veth.a.ifname} UDP 10.77.0.2:40004 > 10.77.0.1:5001 payload 2 len 44",
        f"IN {veth.a.ifname} UDP 10.77.0.2:40004 > 10.77.0.1:5001 payload 3 len 45"]


def test_default_adapter_is_first_up_non_loopback(veth, start_ipmon):
    ip = start_ipmon(veth.a, "capture", "-c", "1", "-l", "udp")
    line = ip.wait_listening()
    assert line.startswith(f"listening on {veth.a.ifname}, link-type EN10MB (Ethernet)"), line
    sent_udp(veth, [b"z" * 10])
    rc, out, err = ip.finish()
    assert rc == 0, err
    assert f" IN {veth.a.ifname} UDP 10.77.0.2:40001 > 10.77.0.1:5000 payload 10 len 52" in out


def test_snaplen_truncates_captured_bytes(veth, start_ipmon, tmp_path):
    f = tmp_path / "snap.pcap"
    ip = start_ipmon(veth.a, "capture", "-i", veth.a.ifname, "-s", "60", "-c", "1", "--json",
                     "-w", str(f), "--print", "udp")
    line = ip.wait_listening()
    assert "snapshot length 60 bytes" in line
    sent_udp(veth, [b"q" * 500])
    rc, out, err = ip.finish()
    assert rc == 0, err
    r = json.loads(out)
    assert (r["len"], r["caplen"], r["payload_len"]) == (542, 60, 500)
    fields = subprocess.run(["tshark", "-r", str(f), "-T", "fields", "-e", "frame.len", "-e", "frame.cap_len"],
                            capture_output=True, text=True, check=True).stdout.split()
    assert fields == ["542", "60"]


def test_hex_dump_matches_the_bytes(veth, start_ipmon, tmp_path):
    scapy = pytest.importorskip("scapy.all")
    f = tmp_path / "hex.pcap"
    ip = start_ipmon(veth.a, "capture", "-i", veth.a.ifname, "-c", "1", "-x", "-w", str(f), "--print", "udp")
    ip.wait_listening()
    sent_udp(veth, [bytes(range(70))])
    rc, out, err = ip.finish()
    assert rc == 0, err
    raw = bytes(scapy.rdpcap(str(f))[0])
    lines = out.splitlines()
    assert " UDP 10.77.0.2:40001 > 10.77.0.1:5000 payload 70 len 112" in lines[0]
    dumped = b""
    for i, line in enumerate(lines[1:]):
        m = re.match(r"^\t0x([0-9a-f]{4}):  ((?:[0-9a-f]{2,4} ?)+)$", line)
        assert m, line
        assert int(m.group(1), 16) == 16 * i
        dumped += bytes.fromhex(m.group(2).replace(" ", ""))
    assert dumped == raw and len(raw) == 112


def capinfos(path):
    out = subprocess.run(["capinfos", "-M", "-t", "-c", "-d", "-E", "-T", "-a", "-e", "-i", str(path)],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    # -T: a header line and one tab-separated line of values.
    head, vals = out.stdout.splitlines()[:2]
    return dict(zip(head.split("\t"), vals.split("\t")))


def test_write_file_read_back_by_capinfos_tshark_and_ipmon(veth, start_ipmon, tmp_path):
    f = tmp_path / "out.pcap"
    sizes = [5, 50, 500, 1400, 20, 200, 2, 0, 999, 64]
    ip = start_ipmon(veth.a, "capture", "-i", veth.a.ifname, "-c", str(len(sizes)), "-w", str(f),
                     "udp port 5000")
    ip.wait_listening()
    sent_udp(veth, [b"w" * n for n in sizes])
    rc, out, err = ip.finish()
    assert rc == 0, err
    assert out == ""  # -w without --print prints no packet lines
    assert f"{len(sizes)} packets captured\n" in err
    info = capinfos(f)
    frame_bytes = sum(ETH + IP4 + UDP + n for n in sizes)
    assert info["Number of packets"] == str(len(sizes))
    assert info["Data size (bytes)"] == str(frame_bytes)
    assert info["File encapsulation"] == "ether"
    assert info["File type"] == "nsecpcap"
    t = subprocess.run(["tshark", "-r", str(f), "-T", "fields", "-e", "ip.src", "-e", "udp.srcport",
                        "-e", "ip.dst", "-e", "udp.dstport", "-e", "udp.length", "-e", "frame.len"],
                       capture_output=True, text=True, check=True).stdout.splitlines()
    assert t == [f"10.77.0.2\t40001\t10.77.0.1\t5000\t{UDP + n}\t{ETH + IP4 + UDP + n}" for n in sizes]
    # ipmon reads its own file back: same packets, the file as the adapter.
    r = run_ipmon("capture", "-r", str(f), "--nano")
    assert r.returncode == 0, r.stderr
    assert r.stderr.startswith(f"reading from file {f}, link-type EN10MB (Ethernet)")
    lines = r.stdout.splitlines()
    assert len(lines) == len(sizes)
    for line, n in zip(lines, sizes):
        assert re.match(rf"^\d\d:\d\d:\d\d\.\d{{9}} \S+ {re.escape(str(f))} UDP 10\.77\.0\.2:40001 > "
                        rf"10\.77\.0\.1:5000 payload {n} len {ETH + IP4 + UDP + n}$", line), line
    # Nanosecond time stamps survive the file: tshark agrees with ipmon's JSON.
    j = run_ipmon("capture", "-r", str(f), "--json")
    ts_ipmon = [json.loads(x)["time"] for x in j.stdout.splitlines()]
    ts_tshark = subprocess.run(["tshark", "-r", str(f), "-T", "fields", "-e", "frame.time_epoch"],
                               capture_output=True, text=True, check=True).stdout.split()
    assert len(ts_ipmon) == len(ts_tshark) == len(sizes)
    for mine, theirs in zip(ts_ipmon, ts_tshark):
        sec, frac = theirs.split(".")
        assert (int(mine[17:19]), mine[20:29]) == (int(sec) % 60, frac.ljust(9, "0")), (mine, theirs)


def test_count_with_read_file_and_filter(veth, start_ipmon, tmp_path):
    f = tmp_path / "mix.pcap"
    ip = start_ipmon(veth.a, "capture", "-i", veth.a.ifname, "-c", "6", "-w", str(f), "udp")
    ip.wait_listening()
    sent_udp(veth, [b"1", b"22", b"333"], port=5000)
    sent_udp(veth, [b"4444", b"55555", b"666666"], port=5001, src_port=40005)
    rc, out, err = ip.finish()
    assert rc == 0, err
    r = run_ipmon("capture", "-r", str(f), "-c", "2", "udp port 5001")
    assert r.returncode == 0, r.stderr
    assert [x.split(" UDP ")[1] for x in r.stdout.splitlines()] == [
        "10.77.0.2:40005 > 10.77.0.1:5001 payload 4 len 46",
        "10.77.0.2:40005 > 10.77.0.1:5001 payload 5 len 47"]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_mid_capture_leaves_complete_file(veth, start_ipmon, tmp_path, sig):
    f = tmp_path / "sig.pcap"
    ip = start_ipmon(veth.a, "capture", "-i", veth.a.ifname, "-w", str(f), "--print", "-l", "udp")
    ip.wait_listening()
    sizes = [10, 20, 30, 40, 50]
    sent_udp(veth, [b"s" * n for n in sizes])
    for n in sizes:
        line = ip.readline()
        assert f"payload {n} len {ETH + IP4 + UDP + n}" in line, line
    # `ip netns exec` execs ipmon, so the pid is ipmon's own.
    ip.proc.send_signal(sig)
    rc, out, err = ip.finish()
    assert rc == 0, err
    assert "5 packets captured\n" in err
    assert re.search(r"^\d+ packets received by filter\n\d+ packets dropped by kernel$", err, re.M), err
    info = capinfos(f)
    assert info["Number of packets"] == "5"
    assert info["Data size (bytes)"] == str(sum(ETH + IP4 + UDP + n for n in sizes))
    t = subprocess.run(["tshark", "-r", str(f)], capture_output=True, text=True)
    complaints = [x for x in t.stderr.splitlines() if not x.startswith("Running as user")]
    assert t.returncode == 0 and complaints == [], t.stderr
    assert len(t.stdout.splitlines()) == 5


def test_sigint_right_after_sending_keeps_every_packet(veth, start_ipmon, tmp_path):
    # No waiting for output: the signal arrives while the packets may still
    # sit in the kernel's ring; ipmon must take them before it stops.
    f = tmp_path / "quick.pcap"
    ip = start_ipmon(veth.a, "capture", "-i", veth.a.ifname, "-w", str(f), "udp")
    ip.wait_listening()
    sizes = list(range(100, 120))
    sent_udp(veth, [b"k" * n for n in sizes])
    ip.proc.send_signal(signal.SIGINT)
    rc, out, err = ip.finish()
    assert rc == 0, err
    assert f"{len(sizes)} packets captured\n{len(sizes)} packets received by filter\n" in err, err
    info = capinfos(f)
    assert info["Number of packets"] == str(len(sizes))
    assert info["Data size (bytes)"] == str(sum(ETH + IP4 + UDP + n for n in sizes))


def test_write_to_stdout_is_a_valid_pcap_stream(veth, start_ipmon, tmp_path):
    ip = start_ipmon(veth.a, "capture", "-i", veth.a.ifname, "-c", "3", "-w", "-", "udp", binary_stdout=True)
    ip.wait_listening()
    sent_udp(veth, [b"a" * 10, b"b" * 20, b"c" * 30])
    rc, out, err = ip.finish()
    assert rc == 0, err
    f = tmp_path / "stdout.pcap"
    f.write_bytes(out)
    info = capinfos(f)
    assert info["Number of packets"] == "3"
    assert info["Data size (bytes)"] == str(3 * (ETH + IP4 + UDP) + 60)


def test_link_level_and_immediate_mode(veth, start_ipmon):
    ip = start_ipmon(veth.a, "capture", "-i", veth.a.ifname, "-c", "1", "-e", "--immediate-mode", "-n", "udp")
    ip.wait_listening()
    sent_udp(veth, [b"e" * 3])
    rc, out, err = ip.finish()
    assert rc == 0, err
    assert re.match(rf"^{TIME} IN {veth.a.ifname} 02:77:00:00:00:02 > 02:77:00:00:00:01 UDP "
                    r"10\.77\.0\.2:40001 > 10\.77\.0\.1:5000 payload 3 len 45$", out.strip()), out


def small_pcap(path, payloads):
    """A classic pcap (microseconds) of UDP/IPv4 Ethernet frames."""
    import struct
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)]
    for i, p in enumerate(payloads):
        udp = struct.pack("!HHHH", 40001, 5000, UDP + len(p), 0) + p
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, IP4 + len(udp), i, 0, 64, 17, 0,
                         bytes([10, 77, 0, 2]), bytes([10, 77, 0, 1])) + udp
        frame = b"\x02" * 6 + b"\x04" * 6 + b"\x08\x00" + ip
        out.append(struct.pack("<IIII", 1000 + i, 500, len(frame), len(frame)) + frame)
    path.write_bytes(b"".join(out))


def test_read_standard_input_from_a_pipe(tmp_path):
    """ipmon capture -r FILE -w - | ipmon capture -r -: every packet through
    the pipe, as tcpdump -w - | tcpdump -r - does."""
    f = tmp_path / "in.pcap"
    sizes = [1, 10, 100, 1000]
    small_pcap(f, [b"p" * n for n in sizes])
    writer = subprocess.Popen([conftest.IPMON, "capture", "-r", str(f), "-w", "-"], stdout=subprocess.PIPE)
    reader = subprocess.run([conftest.IPMON, "capture", "-r", "-", "--json"], stdin=writer.stdout,
                            capture_output=True, text=True, timeout=30)
    writer.stdout.close()
    assert writer.wait(timeout=30) == 0
    assert reader.returncode == 0, reader.stderr
    assert reader.stderr.startswith("reading from file -, link-type EN10MB (Ethernet)")
    got = [json.loads(line) for line in reader.stdout.splitlines()]
    assert [g["payload_len"] for g in got] == sizes
    assert [g["len"] for g in got] == [ETH + IP4 + UDP + n for n in sizes]


def test_read_standard_input_that_is_not_a_capture():
    r = subprocess.run([conftest.IPMON, "capture", "-r", "-"], input=b"this is not a pcap file\n",
                       capture_output=True, timeout=30)
    assert r.returncode == 1
    assert r.stderr.decode().strip() == ("ipmon: standard input (-r -) is not a readable pcap or pcapng "
                                         "file: unknown file format")
