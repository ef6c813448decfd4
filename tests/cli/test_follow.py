"""`ipmon stats` and `ipmon capture` on a host whose adapters come and go
(issue 10): without -i the view follows every adapter (new ones appear,
gone ones are marked and the rest go on, counted exactly); with -i the
named adapters go on when one vanishes and take it back when it returns;
`ipmon capture` ends with status 1 when its adapter is deleted, as tcpdump
does."""
import json
import time
import signal
import subprocess

import netns
from conftest import IPMON  # noqa: F401  (the binary the fixtures run)

UDP_FRAME = 14 + 20 + 8


def add_veth(pair, name_a, name_b, k):
    """One more veth pair: name_a in a (10.79.k.1), name_b in b (10.79.k.2)."""
    a, b = pair.a, pair.b
    subprocess.run(["ip", "link", "add", name_a, "netns", a.ns, "address", f"02:79:00:00:{k:02x}:01",
                    "type", "veth", "peer", "name", name_b, "netns", b.ns, "address",
                    f"02:79:00:00:{k:02x}:02"], check=True)
    for h, ifname, me, peer, mac in ((a, name_a, 1, 2, 2), (b, name_b, 2, 1, 1)):
        n = ["ip", "-n", h.ns]
        subprocess.run([*n, "addr", "add", f"10.79.{k}.{me}/24", "dev", ifname], check=True)
        subprocess.run([*n, "link", "set", ifname, "up"], check=True)
        subprocess.run([*n, "neigh", "replace", f"10.79.{k}.{peer}", "lladdr",
                        f"02:79:00:00:{k:02x}:{mac:02x}", "dev", ifname, "nud", "permanent"], check=True)


def parse_line(line):
    when, name, rest = line.split(" ", 2)
    return when, name, dict(kv.split("=") for kv in rest.split())


class Blocks:
    """Interval blocks of plain lines (one line per adapter, in slot order;
    a block ends where the first slot's name comes again)."""

    def __init__(self, ip):
        self.ip, self.first, self.pending = ip, None, None

    def next(self, timeout=10):
        block = [self.pending] if self.pending else []
        while True:
            when, name, _ = parse_line(self.ip.readline(timeout=timeout))
            if self.first is None:
                self.first = name
            if name == self.first and block:
                self.pending = name
                return block
            block.append(name)

    def until(self, pred, timeout=10):
        """The first block for which pred(set of names) holds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            block = self.next()
            if pred(set(block)):
                return block
        raise AssertionError(f"no interval block as wanted within {timeout}s")


def test_stats_ten_adapters_one_deleted(veth, start_ipmon):
    extra = [(f"vx{veth.tag}n{k}"[:15], f"vy{veth.tag}n{k}"[:15], k) for k in range(1, 10)]
    for na, nb, k in extra:
        add_veth(veth, na, nb, k)
    watched = {veth.a.ifname, "lo"} | {na for na, _, _ in extra}
    assert len(watched - {"lo"}) == 10
    ip = start_ipmon(veth.a, "stats", "--plain", "-I", "0.3", "udp port 5000")
    line = ip.wait_listening()
    assert set(line[len("listening on "):].split(", interval")[0].split(", ")) == watched
    blocks = Blocks(ip)
    assert set(blocks.next()) == watched
    gone = extra[3][0]
    subprocess.run(["ip", "-n", veth.a.ns, "link", "del", gone], check=True)
    assert gone in ip.wait_err("disappeared")
    # The view goes on with the other nine and lo; the gone one's lines stop.
    blocks.until(lambda names: gone not in names)
    for _ in range(3):
        assert set(blocks.next()) == watched - {gone}
    netns.send_udp(veth.b, "10.77.0.1", 5000, [b"x" * 10] * 5)
    netns.send_udp(veth.b, "10.79.2.1", 5000, [b"y" * 20] * 3)
    # A new adapter shows up in the view.
    add_veth(veth, f"vz{veth.tag}"[:15], f"vw{veth.tag}"[:15], 20)
    assert f"vz{veth.tag}"[:15] in ip.wait_err("appeared")
    blocks.until(lambda names: names == (watched - {gone}) | {f"vz{veth.tag}"[:15]})
    ip.proc.send_signal(signal.SIGINT)
    rc, out, err = ip.finish()
    assert rc == 0, err
    totals = {name: f for when, name, f in map(parse_line, out.splitlines()) if when == "total"}
    assert set(totals) == watched | {f"vz{veth.tag}"[:15]}  # the gone one keeps its total
    assert totals[veth.a.ifname]["packets"] == "5"
    assert totals[veth.a.ifname]["bytes"] == str(5 * (UDP_FRAME + 10))
    assert totals[extra[1][0]]["packets"] == "3"
    assert totals[gone]["packets"] == "0"


def test_stats_fixed_list_goes_on_and_takes_back(veth, start_ipmon):
    na, nb = f"vx{veth.tag}"[:15], f"vy{veth.tag}"[:15]
    add_veth(veth, na, nb, 1)
    ip = start_ipmon(veth.a, "stats", "-i", veth.a.ifname, "-i", na, "--json", "-I", "0.3", "udp port 5000")
    ip.wait_listening()
    subprocess.run(["ip", "-n", veth.a.ns, "link", "del", na], check=True)
    assert na in ip.wait_err("disappeared")
    netns.send_udp(veth.b, "10.77.0.1", 5000, [b"x" * 10] * 4)
    add_veth(veth, na, nb, 1)
    assert na in ip.wait_err("came back")
    # Sent until counted: the first may cross before the capture reopened.
    sent = 0
    deadline = time.monotonic() + 10
    counted = 0
    while counted == 0 and time.monotonic() < deadline:
        netns.send_udp(veth.b, "10.79.1.1", 5000, [b"y" * 20])
        sent += 1
        for _ in range(6):
            rec = json.loads(ip.readline())
            if rec["adapter"] == na:
                counted += rec["packets"]
    assert counted >= 1
    ip.proc.send_signal(signal.SIGINT)
    rc, out, err = ip.finish()
    assert rc == 0, err
    totals = {r["adapter"]: r for r in map(json.loads, out.splitlines()) if r["type"] == "total"}
    assert totals[veth.a.ifname]["packets"] == 4
    assert 1 <= totals[na]["packets"] <= sent


def test_capture_ends_when_its_adapter_is_deleted(veth, start_ipmon):
    na, nb = f"vx{veth.tag}"[:15], f"vy{veth.tag}"[:15]
    add_veth(veth, na, nb, 1)
    ip = start_ipmon(veth.a, "capture", "-i", na, "-n", "-l", "udp port 5000")
    ip.wait_listening()
    netns.send_udp(veth.b, "10.79.1.1", 5000, [b"y" * 20] * 2)
    assert "UDP" in ip.readline() and "UDP" in ip.readline()
    subprocess.run(["ip", "-n", veth.a.ns, "link", "del", na], check=True)
    rc, out, err = ip.finish()
    assert rc == 1, err
    assert f"{na}: the adapter disappeared; capture ended" in err
    assert "2 packets captured" in err


def test_live_table_marks_a_gone_adapter(veth):
    # A pseudo-terminal as stdout: the table follows every adapter; the one
    # deleted keeps its row, marked (gone), and the others go on.
    import os
    import pty
    import re
    import select
    na, nb = f"vx{veth.tag}"[:15], f"vy{veth.tag}"[:15]
    add_veth(veth, na, nb, 1)
    master, slave = pty.openpty()
    p = subprocess.Popen(["ip", "netns", "exec", veth.a.ns, IPMON, "stats", "-I", "0.2", "-t", "3",
                          "udp port 5000"],
                         stdout=slave, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                         env={**os.environ, "TERM": "xterm"})
    os.close(slave)
    out = b""
    try:
        assert p.stderr.readline().startswith(b"listening on")
        subprocess.run(["ip", "-n", veth.a.ns, "link", "del", na], check=True)
        assert b"disappeared" in p.stderr.readline()
        netns.send_udp(veth.b, "10.77.0.1", 5000, [b"t" * 100] * 3)
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
    # The view (ncurses: cursor moves, not whole lines) drew the mark; the
    # totals table after it keeps the gone adapter's row, marked, and the
    # others' counts. (tests/cli/test_view.py reads the screen itself.)
    view, totals = text.split("totals over", 1)
    assert "(gone)" in view
    assert re.search(rf"^{na} \(gone\) +0 +0 ", totals, re.M), totals
    m = re.search(rf"^{veth.a.ifname} +(\d+) +(\d+) ", totals, re.M)
    assert m and m.group(1) == "3", totals
