"""The live view of `ipmon stats` (cli/view.c, on ncurses) in a real
terminal: tmux, driven with send-keys and read with capture-pane.

Each test runs ipmon inside a test namespace whose adapters are veth pairs
made for it (3 adapters: lo and two veths; 40: lo and 39 veths), in a
detached tmux session of a given size on a tmux server of its own. A small
shell wrapper writes ipmon's pid, its exit status and the terminal's
settings after it (stty -a) to files, so the tests can signal it and check
that the terminal was given back. Every wait polls capture-pane for a
condition; no sleep stands in for one.
"""
import itertools
import os
import re
import shlex
import subprocess
import time

import pytest

import netns
from conftest import IPMON

UDP_FRAME = 14 + 20 + 8
_counter = itertools.count()


def add_veths(pair, count):
    """`count` more veth pairs between pair.a and pair.b, named u<tag>n<k>
    in a (10.79.k.1/24) so that by name they sort before pair.a's "va..."
    one (the adapter order the library finds puts them after it). Made
    with ip's batch mode: 40 pairs in a few calls. They go when the
    namespaces are deleted (VethPair.close), even when a test fails."""
    names = []
    glob, in_a, in_b = [], [], []
    for k in range(1, count + 1):
        na, nb = f"u{pair.tag}n{k}"[:15], f"w{pair.tag}n{k}"[:15]
        names.append(na)
        glob.append(f"link add {na} netns {pair.a.ns} address 02:79:00:00:{k:02x}:01 type veth "
                    f"peer name {nb} netns {pair.b.ns} address 02:79:00:00:{k:02x}:02")
        in_a += [f"addr add 10.79.{k}.1/24 dev {na}", f"link set {na} up"]
        in_b += [f"addr add 10.79.{k}.2/24 dev {nb}", f"link set {nb} up"]
    for ns, cmds in ((None, glob), (pair.a.ns, in_a), (pair.b.ns, in_b)):
        cmd = ["ip", "-batch", "-"] if ns is None else ["ip", "-n", ns, "-batch", "-"]
        subprocess.run(cmd, input="\n".join(cmds) + "\n", text=True, check=True,
                       capture_output=True)
    return names


@pytest.fixture
def veths(request):
    """A VethPair plus extra pairs: request.param adapters in all (lo too)."""
    total = getattr(request, "param", 3)
    with netns.VethPair(prefix="ipv") as pair:
        pair.extra = add_veths(pair, total - 2)
        yield pair


class Term:
    """ipmon in a detached tmux session of width x height, on a tmux server
    of its own (-L), killed at the end."""

    def __init__(self, tmp_path, host, args, width, height, term=None, stderr_in_pane=False):
        self.sock = f"ipmv{os.getpid()}x{next(_counter)}"
        self.width, self.height = width, height
        self.dir = tmp_path
        self.rc_file, self.pid_file = tmp_path / "rc", tmp_path / "pid"
        self.err_file, self.stty_file = tmp_path / "err", tmp_path / "stty"
        env = f"env TERM={shlex.quote(term)} " if term else ""
        inner = (f"echo $$ > {self.pid_file}; exec {env}ip netns exec {host.ns} "
                 f"{shlex.join([IPMON, *args])}")
        redirect = "" if stderr_in_pane else f" 2> {self.err_file}"
        script = (f"sh -c {shlex.quote(inner)}{redirect}; echo $? > {self.rc_file}; "
                  f"stty -a > {self.stty_file}; sleep 600")
        self.tmux("new-session", "-d", "-s", "v", "-x", str(width), "-y", str(height), script)

    def tmux(self, *args, check=True):
        return subprocess.run(["tmux", "-L", self.sock, *args], capture_output=True, text=True,
                              check=check)

    def screen(self, history=False):
        """The pane's lines (with history: the scrolled-off ones first)."""
        more = ["-S", "-"] if history else []
        return self.tmux("capture-pane", "-p", *more, "-t", "v").stdout.split("\n")

    def wait_screen(self, pred, what, timeout=15, history=False):
        """Poll the pane until pred(lines) holds; returns the lines."""
        deadline = time.monotonic() + timeout
        lines = []
        while time.monotonic() < deadline:
            lines = self.screen(history)
            if pred(lines):
                return lines
            time.sleep(0.05)
        raise AssertionError(f"the screen never showed {what}:\n" + "\n".join(lines))

    def wait_file(self, path, pred=lambda text: text != "", timeout=15):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = path.read_text() if path.exists() else ""
            if text.endswith("\n") and pred(text):
                return text
            time.sleep(0.05)
        raise AssertionError(f"{path.name} never became as wanted: {text!r}")

    def wait_listening(self):
        return self.wait_file(self.err_file, lambda t: "listening on" in t)

    def keys(self, *keys):
        self.tmux("send-keys", "-t", "v", *keys)

    def exit_status(self, timeout=15):
        return int(self.wait_file(self.rc_file, timeout=timeout))

    def pid(self):
        return int(self.wait_file(self.pid_file))

    def close(self):
        self.tmux("kill-server", check=False)


@pytest.fixture
def term(tmp_path):
    made = []

    def start(host, *args, width=80, height=24, term=None, stderr_in_pane=False):
        t = Term(tmp_path, host, args, width, height, term, stderr_in_pane)
        made.append(t)
        return t

    yield start
    for t in made:
        t.close()


def row(lines, name):
    """The screen line of adapter `name`, or None."""
    return next((x for x in lines if x.startswith(name + " ")), None)


def titles(lines):
    return next((x.split() for x in lines if x.startswith("ADAPTER ")), None)


def cells_of(lines, name):
    """Adapter `name`'s row as {title: cell}: cells are right-aligned, each
    ending where its column title ends."""
    r = row(lines, name)
    head = next((x for x in lines if x.startswith("ADAPTER ")), None)
    if not r or not head:
        return {}
    out, prev = {}, 0
    for m in re.finditer(r"\S+", head):
        out[m.group()] = r[prev:m.end()].strip() if m.group() != "ADAPTER" else name
        prev = m.end()
    return out


def counted(lines, name, packets, bytes_):
    """Adapter `name`'s row shows PACKETS and BYTES as given."""
    c = cells_of(lines, name)
    return c.get("PACKETS") == str(packets) and c.get("BYTES") == str(bytes_)


def assert_fits(lines, width):
    too_long = [x for x in lines if len(x) > width]
    assert not too_long, too_long


def assert_restored(t):
    """After ipmon, the terminal echoes and reads lines again."""
    stty = t.wait_file(t.stty_file)
    assert re.search(r"(?<!-)\becho\b", stty) and re.search(r"(?<!-)\bicanon\b", stty), stty


SIZES = [(80, 24), (132, 40)]


@pytest.mark.parametrize("veths", [3, 40], indirect=True, ids=["3adapters", "40adapters"])
@pytest.mark.parametrize("size", SIZES, ids=["80x24", "132x40"])
def test_view_fits_counts_and_quits(veths, term, size):
    width, height = size
    n = len(veths.extra) + 2
    t = term(veths.a, "stats", "-I", "0.3", "udp port 5000", width=width, height=height)
    t.wait_listening()
    name = veths.extra[0]  # u<tag>n1, 10.79.1.1
    netns.send_udp(veths.b, "10.79.1.1", 5000, [b"v" * 100] * 7)
    # n to sort by name (lo, u...n1, u...n10, ..., va...): the named
    # adapter is in the first rows even when 40 do not fit.
    t.keys("n")
    lines = t.wait_screen(lambda s: counted(s, name, 7, 7 * (UDP_FRAME + 100)),
                          f"{name} with 7 packets, {7 * (UDP_FRAME + 100)} bytes")
    assert_fits(lines, width)
    assert lines[0].startswith("ipmon stats") and f"{n} adapters" in lines[0]
    assert "sort: name" in lines[0]
    head = titles(lines)
    assert head[:2] == ["ADAPTER", "IN"] and "TOTAL" in head and "DROPS" in head
    # The columns the width allows, in the documented order of dropping.
    if width == 132:
        assert head == ["ADAPTER", "IN", "OUT", "TOTAL", "PKT/S", "DROPS", "TCP%", "UDP%", "ICM%",
                        "OTH%", "IP4%", "IP6%", "PACKETS", "BYTES"]
    else:
        assert head == ["ADAPTER", "IN", "OUT", "TOTAL", "PKT/S", "DROPS", "PACKETS", "BYTES"]
    body = height - 5  # header, keys, titles; TOTAL row and status line at the foot
    shown = min(n, body)
    assert lines[height - 1].startswith(f"rows 1-{shown} of {n}"), lines[height - 1]
    assert lines[height - 2].startswith("TOTAL ")
    if n > body:
        # Paging: the header and titles stay; the indicator follows.
        t.keys("NPage")  # a page is the rows shown less one, up to the end
        top = min(body - 1, n - body)
        lines = t.wait_screen(lambda s: s[height - 1].startswith(f"rows {top + 1}-{top + body} of {n}"),
                              "the second page")
        assert lines[0].startswith("ipmon stats") and titles(lines)[0] == "ADAPTER"
        assert row(lines, "lo") is None  # scrolled off with the first page
        t.keys("End")
        lines = t.wait_screen(lambda s: s[height - 1].startswith(f"rows {n - body + 1}-{n} of {n}"),
                              "the last page")
        assert row(lines, name) is None  # name order: lo, u..., va...
        assert row(lines, veths.a.ifname) is not None
        assert_fits(lines, width)
    t.keys("q")
    assert t.exit_status() == 0
    lines = t.wait_screen(lambda s: any(x.startswith("totals over") for x in s), "the totals",
                          history=True)
    i = next(k for k, x in enumerate(lines) if x.startswith("totals over"))
    assert lines[i + 1].split() == ["ADAPTER", "PACKETS", "BYTES", "AVG", "RATE", "DROPS"]
    cells = row(lines[i:], name).split()
    assert cells[1:3] == ["7", str(7 * (UDP_FRAME + 100))]
    assert row(lines[i:], "TOTAL").split()[1] == "7"
    assert_restored(t)


def test_resize_redraws_to_the_new_width(veths, term):
    t = term(veths.a, "stats", "-I", "0.3", width=132, height=40)
    t.wait_listening()
    t.wait_screen(lambda s: (titles(s) or [])[-3:] == ["IP6%", "PACKETS", "BYTES"], "every column")
    t.tmux("resize-window", "-t", "v", "-x", "80", "-y", "24")
    lines = t.wait_screen(lambda s: len(s) <= 25 and titles(s) is not None and "IP4%" not in titles(s)
                          and all(len(x) <= 80 for x in s), "the view redrawn at 80 columns")
    assert titles(lines)[-2:] == ["PACKETS", "BYTES"]
    t.tmux("resize-window", "-t", "v", "-x", "60", "-y", "12")
    lines = t.wait_screen(lambda s: titles(s) is not None and "PACKETS" not in titles(s)
                          and all(len(x) <= 60 for x in s), "the view redrawn at 60 columns")
    assert lines[0].startswith("ipmon stats")
    t.keys("q")
    assert t.exit_status() == 0


def test_keys_sort_pause_and_no_echo(veths, term):
    t = term(veths.a, "stats", "-I", "0.2", "udp port 5000")
    t.wait_listening()
    last = veths.extra[-1]
    # As found (the library's adapter order: va... before u...), then by
    # name (lo, u..., va...).
    lines = t.wait_screen(lambda s: row(s, last) and row(s, veths.a.ifname), "both veths")
    found = [x.split()[0] for x in lines[3:6]]
    assert sorted(found) == sorted(["lo", last, veths.a.ifname])
    assert found != sorted(found), found
    t.keys("n")
    t.wait_screen(lambda s: [x.split()[0] for x in s[3:6]] == sorted(found),
                  "the rows sorted by name")
    # By rate: the adapter with traffic comes first while it has some.
    t.keys("r")
    deadline = time.monotonic() + 15
    while True:
        netns.send_udp(veths.b, "10.79.1.1", 5000, [b"r" * 200] * 20)
        s = t.screen()
        if s[3].split()[:1] == [last] and "sort: rate" in s[0]:
            break
        assert time.monotonic() < deadline, "\n".join(s)
        time.sleep(0.05)
    # Typed keys are not echoed onto the screen; p pauses, space resumes.
    t.keys("xyzzy")
    t.keys("p")
    lines = t.wait_screen(lambda s: "PAUSED" in s[0], "PAUSED")
    assert not any("xyzzy" in x for x in lines)
    frozen = lines[0]
    t.keys("Space")
    t.wait_screen(lambda s: "PAUSED" not in s[0] and s[0] != frozen, "the view going on")
    t.keys("q")
    assert t.exit_status() == 0
    assert_restored(t)


@pytest.mark.parametrize("how", ["C-c", "SIGTERM"])
def test_ctrl_c_and_sigterm_give_the_terminal_back(veths, term, how):
    t = term(veths.a, "stats", "-I", "0.3", "udp port 5000")
    t.wait_listening()
    netns.send_udp(veths.b, "10.77.0.1", 5000, [b"c" * 10] * 4)
    t.wait_screen(lambda s: counted(s, veths.a.ifname, 4, 4 * (UDP_FRAME + 10)), "4 packets")
    if how == "C-c":
        t.keys("C-c")
    else:
        os.kill(t.pid(), 15)
    assert t.exit_status() == 0
    lines = t.wait_screen(lambda s: any(x.startswith("totals over") for x in s), "the totals",
                          history=True)
    assert row(lines, veths.a.ifname).split()[1:3] == ["4", str(4 * (UDP_FRAME + 10))]
    assert not any(x.startswith("q quit") for x in lines)  # the view is gone
    assert_restored(t)


def test_unknown_terminal_falls_back_to_plain_lines(veths, term):
    t = term(veths.a, "stats", "-I", "0.3", "-t", "1", "udp port 5000", term="nosuchterm-ipmon")
    t.wait_listening()
    netns.send_udp(veths.b, "10.77.0.1", 5000, [b"f" * 10] * 2)
    assert t.exit_status() == 0
    err = t.err_file.read_text()
    notes = [x for x in err.splitlines() if "nosuchterm-ipmon" in x]
    assert notes == ["ipmon: note: the terminal type 'nosuchterm-ipmon' is unknown to ncurses: "
                     "no live view, plain lines instead"], err
    lines = t.wait_screen(lambda s: any(x.startswith(f"total {veths.a.ifname} ") for x in s),
                          "the plain totals")
    total = next(x for x in lines if x.startswith(f"total {veths.a.ifname} "))
    assert " packets=2 " in total


def test_messages_on_the_status_line_then_on_stderr(veths, term):
    # stderr is the terminal too: the message of an adapter that goes away
    # is shown on the status line (stderr would scribble over the view),
    # the row is marked, and the message is written out when the view ends.
    gone = veths.extra[0]
    t = term(veths.a, "stats", "-I", "0.2", "udp port 5000", stderr_in_pane=True)
    t.wait_screen(lambda s: row(s, gone) is not None, f"the row of {gone}")
    subprocess.run(["ip", "-n", veths.a.ns, "link", "del", gone], check=True)
    lines = t.wait_screen(lambda s: "disappeared" in s[-2] and row(s, f"{gone} (gone)"),
                          "the message and the mark")
    assert lines[-2].startswith("rows 1-3 of 3  ") and gone in lines[-2]
    assert not any("disappeared" in x for x in lines[:-2])  # nothing scribbled over the view
    t.keys("q")
    assert t.exit_status() == 0
    lines = t.wait_screen(lambda s: any(x.startswith("totals over") for x in s), "the totals",
                          history=True)
    i = next(k for k, x in enumerate(lines) if x.startswith("totals over"))
    assert re.match(rf"{gone} \(gone\) +0 +0 ", row(lines[i:], f"{gone} (gone)"))
    # Written when the view closed, just before the totals.
    assert any(x.startswith(f"ipmon: {gone}: ") and "disappeared" in x for x in lines[:i]), lines


def test_terminal_going_away_ends_it(veths):
    # The terminal closes under the view (its master side, as when a
    # terminal window is closed; SIGHUP ignored, as under nohup): ipmon
    # notices at its next frame and ends with one line, status 1, instead
    # of drawing into nothing for ever.
    import pty
    import select
    import signal
    master, slave = pty.openpty()
    p = subprocess.Popen(["ip", "netns", "exec", veths.a.ns, IPMON, "stats", "-I", "0.1"],
                         stdin=subprocess.DEVNULL, stdout=slave, stderr=subprocess.PIPE,
                         env={**os.environ, "TERM": "xterm"},
                         preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_IGN))
    os.close(slave)
    try:
        assert p.stderr.readline().startswith(b"listening on")
        seen, deadline = b"", time.monotonic() + 10
        while b"ADAPTER" not in seen and time.monotonic() < deadline:
            if select.select([master], [], [], 0.5)[0]:
                seen += os.read(master, 65536)
        assert b"ADAPTER" in seen
        os.close(master)
        master = None
        assert p.wait(timeout=10) == 1
        assert p.stderr.read() == b"ipmon: the terminal went away; stopped\n"
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        if master is not None:
            os.close(master)
