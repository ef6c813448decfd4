"""`ipmon capture --threads N`: one adapter captured by N threads in one
PACKET_FANOUT group (by flow). Known traffic between two namespaces: every
datagram sent is captured exactly once over the threads (in the files
FILE.0 ... FILE.N-1 as tshark reads them, or in the one merged printed
stream), all datagrams of one flow land in one thread's file, and -c
counts over all threads. Bad combinations are refused with one line."""
import collections
import os
import re
import subprocess

import pytest

import netns
from conftest import run_ipmon

FLOWS, PER_FLOW = 32, 8
# PACKET_FANOUT is Linux's: the posix platform layer refuses FanoutGroup.
needs_fanout = pytest.mark.skipif(os.environ.get("IPM_PLATFORM", "linux") == "posix",
                                  reason="no PACKET_FANOUT on IPM_PLATFORM=posix")


def send_flows(veth, port=5000):
    """PER_FLOW datagrams from each of FLOWS source ports, b -> a; returns
    {source port: [payload sizes]}."""
    sent = {}
    for f in range(FLOWS):
        sizes = [10 + f + 100 * k for k in range(PER_FLOW)]
        src = 41000 + f
        netns.send_udp(veth.b, veth.a.ip4, port, [b"f" * n for n in sizes], src_port=src)
        sent[src] = sizes
    return sent


def tshark_flows(path):
    """(udp.srcport, udp payload length) of each packet in the file."""
    out = subprocess.run(["tshark", "-r", str(path), "-T", "fields", "-e", "udp.srcport", "-e", "udp.length"],
                         capture_output=True, text=True, check=True).stdout.split("\n")
    return [(int(a), int(b) - 8) for a, b in (line.split("\t") for line in out if line)]


@needs_fanout
def test_threads_write_one_file_each_every_packet_once(veth, start_ipmon, tmp_path):
    total = FLOWS * PER_FLOW
    f = tmp_path / "t.pcap"
    ip = start_ipmon(veth.a, "capture", "-i", veth.a.ifname, "--threads", "4", "-c", str(total),
                     "-w", str(f), "udp port 5000")
    line = ip.wait_listening()
    assert line.startswith(f"listening on {veth.a.ifname} with 4 threads (fanout by flow), link-type EN10MB"), line
    sent = send_flows(veth)
    rc, out, err = ip.finish()
    assert rc == 0, err
    assert f"{total} packets captured\n" in err, err
    files = sorted(tmp_path.iterdir())
    assert [p.name for p in files] == [f"t.pcap.{k}" for k in range(4)]
    where = collections.defaultdict(set)
    got = collections.defaultdict(list)
    for k, path in enumerate(files):
        for src, n in tshark_flows(path):
            where[src].add(k)
            got[src].append(n)
    # every datagram once, in order within its flow; each flow in one file
    assert dict(got) == sent
    assert all(len(ks) == 1 for ks in where.values()), dict(where)
    # the flows are spread (32 flows all hashed to one of 4 threads: ~1e-19)
    assert len({k for ks in where.values() for k in ks}) >= 2, dict(where)


@needs_fanout
def test_threads_print_one_merged_stream(veth, start_ipmon):
    total = FLOWS * PER_FLOW
    ip = start_ipmon(veth.a, "capture", "-i", veth.a.ifname, "--threads", "3", "-c", str(total), "-l",
                     "udp port 5000")
    ip.wait_listening()
    sent = send_flows(veth)
    rc, out, err = ip.finish()
    assert rc == 0, err
    lines = out.splitlines()
    assert len(lines) == total, out[-2000:]
    got = collections.defaultdict(list)
    pat = re.compile(rf"^\S+ IN {veth.a.ifname} UDP 10\.77\.0\.2:(\d+) > 10\.77\.0\.1:5000 payload (\d+) len \d+$")
    for line in lines:
        m = pat.match(line)
        assert m, line  # whole lines: never two threads' output interleaved
        got[int(m.group(1))].append(int(m.group(2)))
    assert dict(got) == sent
    assert f"{total} packets captured\n" in err


@needs_fanout
def test_threads_count_stops_all(veth, start_ipmon):
    """-c 50 over 4 threads: exactly 50 packets, then every thread ends."""
    ip = start_ipmon(veth.a, "capture", "-i", veth.a.ifname, "--threads", "4", "-c", "50", "-l", "udp port 5000")
    ip.wait_listening()
    send_flows(veth)
    rc, out, err = ip.finish()
    assert rc == 0, err
    assert len(out.splitlines()) == 50
    assert "50 packets captured\n" in err


@pytest.mark.parametrize("args,message", [
    (["--threads", "0"], "--threads"),
    (["--threads", "65"], "--threads"),
    (["--threads", "x"], "--threads"),
    (["--threads", "2", "-r", "some.pcap"], "--threads shares a live adapter's packets among threads; a -r file is read by one"),
    (["--threads", "2", "-i", "lo", "-i", "eth0"], "--threads captures one adapter: give -i once"),
    (["--threads", "2", "-w", "-"], "--threads writes a file per thread (FILE.0, FILE.1, ...): give -w a file name, not -"),
    (["--threads", "2", "-w", "x.pcap", "-C", "1"], "--threads does not rotate its files: -C cannot be used with it"),
])
def test_threads_bad_combinations(args, message):
    r = run_ipmon("capture", *args)
    assert r.returncode == 2, r
    assert r.stderr.startswith("ipmon capture: ") and message in r.stderr, r.stderr
    assert r.stderr.count("\n") == 1, r.stderr
