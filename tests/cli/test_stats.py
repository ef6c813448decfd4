"""`ipmon stats` and bare `ipmon` end to end: counts per adapter and interval
must equal the traffic sent inside the test namespaces, split by direction,
protocol and family; the totals must equal the sum of the intervals."""
import json
import os
import pty
import re
import select
import signal
import subprocess
import time

import pytest

import netns
from conftest import IPMON, run_ipmon

ETH, IP4, IP6, UDP = 14, 20, 40, 8
KEYS = ["packets", "bytes", "in_packets", "in_bytes", "out_packets", "out_bytes", "tcp_packets",
        "udp_packets", "udp_bytes", "icmp_packets", "other_packets", "ipv4_packets", "ipv4_bytes",
        "ipv6_packets", "ipv6_bytes", "nonip_packets", "dropped"]


def send_mixed(veth):
    """5 UDP/IPv4 datagrams b->a and 3 UDP/IPv6 datagrams a->b."""
    netns.send_udp(veth.b, "10.77.0.1", 5000, [b"i" * n for n in range(1, 6)])
    netns.send_udp(veth.a, "fd77::2", 5000, [b"o" * n for n in range(1, 4)])
    v4 = sum(ETH + IP4 + UDP + n for n in range(1, 6))
    v6 = sum(ETH + IP6 + UDP + n for n in range(1, 4))
    return {"packets": 8, "bytes": v4 + v6, "in_packets": 5, "in_bytes": v4, "out_packets": 3,
            "out_bytes": v6, "tcp_packets": 0, "udp_packets": 8, "udp_bytes": v4 + v6,
            "icmp_packets": 0, "other_packets": 0, "ipv4_packets": 5, "ipv4_bytes": v4,
            "ipv6_packets": 3, "ipv6_bytes": v6, "nonip_packets": 0, "dropped": 0}


def parse_json(out):
    recs = [json.loads(line) for line in out.splitlines()]
    return [r for r in recs if r["type"] == "interval"], [r for r in recs if r["type"] == "total"]


# The kernel statistics engine is Linux's (eBPF); the posix platform layer
# counts with the ring engine only.
KERNEL_ENGINE = os.environ.get("IPM_PLATFORM", "linux") != "posix"
needs_kernel_engine = pytest.mark.skipif(not KERNEL_ENGINE, reason="no kernel engine on IPM_PLATFORM=posix")
ENGINE_SAYS = {"kernel": "counted in the kernel (eBPF)", "ring": "counted by the ring engine"}


@pytest.mark.parametrize("engine", [pytest.param("kernel", marks=needs_kernel_engine), "ring"])
def test_json_counts_equal_what_was_sent(veth, start_ipmon, engine):
    """The same counts, bytes and split from both statistics engines."""
    ip = start_ipmon(veth.a, "stats", "-i", veth.a.ifname, "-I", "0.5", "-t", "2", "--json",
                     "--engine", engine, "udp")
    assert ip.wait_listening() == f"listening on {veth.a.ifname}, interval 0.5 s, {ENGINE_SAYS[engine]}\n"
    want = send_mixed(veth)
    rc, out, err = ip.finish()
    assert rc == 0, err
    intervals, totals = parse_json(out)
    assert len(totals) == 1 and totals[0]["adapter"] == veth.a.ifname
    t = totals[0]
    assert t["detail"] is True
    assert {k: t[k] for k in KEYS} == want
    # Intervals: about 2 s / 0.5 s of them, and they add up to the totals.
    assert 3 <= len(intervals) <= 6, len(intervals)
    assert all(r["adapter"] == veth.a.ifname for r in intervals)
    for k in KEYS:
        assert sum(r[k] for r in intervals) == t[k], k
    for r in intervals:
        assert 0.3 < r["seconds"] < 1.0, r["seconds"]
        # "seconds" is rounded to ms in the output: allow for that.
        assert abs(r["pps"] - r["packets"] / r["seconds"]) <= 0.005 * r["pps"] + 0.001
        assert abs(r["bps"] - 8 * r["bytes"] / r["seconds"]) <= 0.005 * r["bps"] + 0.001
    assert 1.9 < t["seconds"] < 3.0


def parse_line(line):
    head, rest = line.split(" ", 2)[:2], line.split(" ", 2)[2]
    fields = dict(kv.split("=") for kv in rest.split())
    return head[0], head[1], fields


def test_piped_lines_for_two_adapters(veth, start_ipmon):
    ip = start_ipmon(veth.a, "stats", "-i", veth.a.ifname, "-i", "lo", "-I", "0.5", "-t", "2", "icmp")
    ip.wait_listening()
    veth.b.exec("ping", "-c", "2", "-i", "0.2", "10.77.0.1", stdout=subprocess.DEVNULL)
    veth.a.exec("ping", "-c", "3", "-i", "0.2", "127.0.0.1", stdout=subprocess.DEVNULL)
    rc, out, err = ip.finish()
    assert rc == 0, err
    lines = [parse_line(x) for x in out.splitlines()]
    totals = {name: f for when, name, f in lines if when == "total"}
    intervals = [(name, f) for when, name, f in lines if when != "total"]
    assert all(re.match(r"^\d\d:\d\d:\d\d$", when) for when, _, _ in lines if when != "total")
    assert set(totals) == {veth.a.ifname, "lo"}
    va, lo = totals[veth.a.ifname], totals["lo"]
    assert (va["packets"], va["bytes"], va["in_packets"], va["out_packets"], va["icmp"], va["ipv4"]) == \
        ("4", str(4 * 98), "2", "2", "4", "4")
    # On loopback each packet shows once, as incoming.
    assert (lo["packets"], lo["bytes"], lo["in_packets"], lo["out_packets"], lo["icmp"]) == \
        ("6", str(6 * 98), "6", "0", "6")
    for name, tot in totals.items():
        assert sum(int(f["packets"]) for n, f in intervals if n == name) == int(tot["packets"])
    # Every interval prints one line per adapter, in the same order.
    names = [n for n, _ in intervals]
    assert names == [veth.a.ifname, "lo"] * (len(names) // 2)


def test_sigint_stops_and_counts_everything(veth, start_ipmon):
    ip = start_ipmon(veth.a, "stats", "-i", veth.a.ifname, "-I", "10", "--json", "udp")
    ip.wait_listening()
    want = send_mixed(veth)
    ip.proc.send_signal(signal.SIGINT)  # at once: ipmon must still collect what is in the ring
    rc, out, err = ip.finish()
    assert rc == 0, err
    intervals, totals = parse_json(out)
    assert len(intervals) == 1 and len(totals) == 1
    assert {k: totals[0][k] for k in KEYS} == want
    assert totals[0]["seconds"] < 5


def test_bare_ipmon_watches_every_up_adapter(veth, start_ipmon):
    # The README's run command: `ipmon` alone is `ipmon stats` on the adapters that are up.
    ip = start_ipmon(veth.a, "-t", "1", "--json")
    line = ip.wait_listening()
    assert set(line[len("listening on "):].split(", interval")[0].split(", ")) == {"lo", veth.a.ifname}
    rc, out, err = ip.finish()
    assert rc == 0, err
    _, totals = parse_json(out)
    assert sorted(t["adapter"] for t in totals) == sorted(["lo", veth.a.ifname])


def test_live_table_on_a_terminal(veth):
    # A pseudo-terminal as stdout: the refreshing table, then the totals.
    master, slave = pty.openpty()
    p = subprocess.Popen(["ip", "netns", "exec", veth.a.ns, IPMON, "stats", "-i", veth.a.ifname,
                          "-I", "0.2", "-t", "1.2", "udp"],
                         stdout=slave, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                         env={**os.environ, "TERM": "xterm"})
    os.close(slave)
    try:
        assert p.stderr.readline().startswith(b"listening on")
        netns.send_udp(veth.b, "10.77.0.1", 5000, [b"t" * 100] * 3)
        out = b""
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            r, _, _ = select.select([master], [], [], 0.5)
            if r:
                try:
                    chunk = os.read(master, 65536)
                except OSError:
                    break
                if not chunk:
                    break
                out += chunk
            elif p.poll() is not None:
                break
        assert p.wait(timeout=10) == 0
    finally:
        if p.poll() is None:
            p.kill()
        os.close(master)
    text = out.decode().replace("\r\n", "\n")
    # The view (ncurses, on the alternate screen; tests/cli/test_view.py
    # reads it in tmux), then the totals as a table on the normal screen.
    view, totals = text.split("totals over", 1)
    assert "\x1b[?1049h" in view and "\x1b[?1049l" in view  # xterm's alternate screen, left
    assert re.search(r"ADAPTER +IN +OUT +TOTAL +PKT/S +DROPS", view)
    assert re.search(r"^ [\d.]+ s:\nADAPTER +PACKETS +BYTES +AVG RATE +DROPS$", totals, re.M), totals
    m = re.search(rf"^{veth.a.ifname} +(\d+) +(\d+) ", totals, re.M)
    assert m and m.groups() == ("3", str(3 * (ETH + IP4 + UDP + 100))), totals


def test_stats_on_unknown_and_good_adapter_exits_1(veth):
    r = run_ipmon("stats", "-i", veth.a.ifname, "-i", "nosuch1", "-t", "1", host=veth.a)
    assert r.returncode == 1
    assert r.stderr == "ipmon: no adapter named 'nosuch1' (see 'ipmon list')\n"
    assert r.stdout == ""


@needs_kernel_engine
def test_engine_without_cap_bpf(veth):
    """Without CAP_BPF and CAP_SYS_ADMIN (capsh drops them from the bounding
    set, CAP_NET_RAW stays): by default ipmon counts with the ring engine
    and says why; --engine kernel is refused, naming the capability and
    ipmon's own way out."""
    def run(*args):
        cmd = ["ip", "netns", "exec", veth.a.ns, "capsh", "--drop=cap_bpf,cap_sys_admin", "--",
               "-c", " ".join([IPMON, "stats", "-i", veth.a.ifname, "-t", "0.5", "--json", *args])]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    p = run("--engine", "kernel")
    assert p.returncode == 1, p
    assert p.stdout == ""
    assert p.stderr.count("\n") == 1, p.stderr
    assert "CAP_BPF" in p.stderr and "use --engine auto" in p.stderr, p.stderr
    assert "StatisticsEngine" not in p.stderr and "needs no privilege" not in p.stderr, p.stderr
    p = run()
    assert p.returncode == 0, p
    first = p.stderr.splitlines()[0]
    assert first.startswith(f"listening on {veth.a.ifname}, interval 1 s, counted by the ring engine "
                            f"(not the kernel's: {veth.a.ifname}: "), first
    assert "CAP_BPF" in first, first
    totals = [json.loads(line) for line in p.stdout.splitlines() if '"total"' in line]
    assert len(totals) == 1 and totals[0]["adapter"] == veth.a.ifname


def test_engine_bad_value():
    p = subprocess.run([IPMON, "stats", "--engine", "gpu"], capture_output=True, text=True, timeout=10)
    assert p.returncode == 2
    assert p.stderr == "ipmon stats: --engine takes auto, kernel or ring, not \"gpu\" (see 'ipmon stats --help')\n"
