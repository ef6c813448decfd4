"""Every output of ipmon against a closed pipe and a full disk.

The input never ends by itself: a pcap stream fed through a FIFO for as long
as ipmon reads it (`-r FIFO`), or UDP traffic sent between the test's
namespaces until ipmon exits (live). So when ipmon ends, it ended because
of its output, which is what each test asserts, with a time limit only as
the guard against hanging. Outputs: capture lines (text, --json; with -l
and without), -w - (with -U and without), -w FILE (/dev/full, and a file on
a tiny tmpfs the test mounts), stats --plain and --json, list and list
--json.

Conventions checked (README, ipmon(1)): a closed pipe ends the command
quietly with status 0, as for tcpdump; a failed write is one line naming
the real error, status 1; the counts ipmon prints never include a packet
that did not reach the output whole (compared with capinfos and tshark).
"""
import os
import re
import shutil
import socket
import struct
import subprocess
import tempfile
import threading
import time

import pytest

import netns
from conftest import IPMON

ENOSPC = os.strerror(28)  # "No space left on device"
LIMIT = 60  # seconds: only the guard against a hang, never the condition


def frame(i):
    """An Ethernet/IPv4/UDP frame 10.77.0.2:40001 > 10.77.0.1:5000, 32 bytes of payload."""
    payload = struct.pack("!I", i) * 8
    udp = struct.pack("!HHHH", 40001, 5000, 8 + len(payload), 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), i & 0xFFFF, 0, 64, 17, 0,
                     socket.inet_aton("10.77.0.2"), socket.inet_aton("10.77.0.1"))
    eth = bytes.fromhex("027700000001" "027700000002" "0800")
    return eth + ip + udp


class EndlessPcap:
    """A FIFO that yields a nanosecond pcap stream for as long as it is read.

    `fed` counts the packets written into the FIFO; the writer stops when the
    reader closes it (EPIPE) or at close()."""

    def __init__(self, directory):
        self.path = os.path.join(directory, "endless.pcap")
        os.mkfifo(self.path)
        self.fed = 0
        self.stop = threading.Event()
        self.t = threading.Thread(target=self._feed, daemon=True)
        self.t.start()

    def _feed(self):
        header = struct.pack("<IHHiIII", 0xA1B23C4D, 2, 4, 0, 0, 262144, 1)
        try:
            with open(self.path, "wb", buffering=0) as f:
                f.write(header)
                i = 0
                while not self.stop.is_set():
                    chunk = b""
                    for _ in range(256):
                        fr = frame(i)
                        chunk += struct.pack("<IIII", 1700000000 + i // 1000, (i % 1000) * 1000,
                                             len(fr), len(fr)) + fr
                        i += 1
                    f.write(chunk)
                    self.fed = i
        except (BrokenPipeError, OSError):
            pass

    def close(self):
        self.stop.set()
        # A writer still blocked in open() (ipmon never opened the FIFO) is
        # released by opening the read side once.
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK)
            os.close(fd)
        except OSError:
            pass
        self.t.join(10)


class Blaster:
    """UDP datagrams from namespace b to a, until stop()."""

    def __init__(self, veth, port=5000):
        self.sock = veth.b.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.dst = (veth.a.ip4, port)
        self.sent = 0
        self.done = threading.Event()
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def _run(self):
        payload = b"z" * 64
        while not self.done.is_set():
            for _ in range(50):
                try:
                    self.sock.sendto(payload, self.dst)
                    self.sent += 1
                except OSError:
                    pass
            time.sleep(0.0005)  # pacing: at most ~100k packets/s on a shared host

    def stop(self):
        self.done.set()
        self.t.join(10)
        self.sock.close()


@pytest.fixture
def endless(tmp_path):
    src = EndlessPcap(str(tmp_path))
    yield src
    src.close()


@pytest.fixture
def blaster(veth):
    started = []

    def start():
        b = Blaster(veth)
        started.append(b)
        return b

    yield start
    for b in started:
        b.stop()


def spawn(args, stdout, host=None):
    cmd = [IPMON, *args]
    if host is not None:
        cmd = ["ip", "netns", "exec", host.ns, *cmd]
    return subprocess.Popen(cmd, stdout=stdout, stderr=subprocess.PIPE)


def wait_exit(p):
    """Wait for ipmon to end by itself; returns (rc, stderr text)."""
    try:
        err = p.stderr.read()  # until ipmon exits and closes it
        rc = p.wait(timeout=LIMIT)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
        raise AssertionError("ipmon did not stop on its own")
    return rc, err.decode(errors="replace")


def run_until_exit(p):
    """wait_exit with a watchdog: kill ipmon if it is still running after LIMIT."""
    timer = threading.Timer(LIMIT, lambda: p.poll() is None and p.kill())
    timer.start()
    try:
        rc, err = wait_exit(p)
    finally:
        timer.cancel()
    assert rc != -9, f"ipmon did not stop within {LIMIT}s although its output was gone: {err}"
    return rc, err


def errors(err):
    return [line for line in err.splitlines() if line.startswith("ipmon")]


def close_after_some(p, r, nbytes):
    """Read `nbytes` of ipmon's output from the pipe, then close the pipe."""
    got = b""
    while len(got) < nbytes:
        chunk = os.read(r, nbytes - len(got))
        assert chunk, "ipmon closed its output early"
        got += chunk
    os.close(r)
    return got


CAPTURE_OUTPUTS = {
    "text": [],
    "text-l": ["-l"],
    "json": ["--json"],
    "json-l": ["--json", "-l"],
    "pcap": ["-w", "-"],
    "pcap-U": ["-w", "-", "-U"],
}


# ---- closed pipe ----

@pytest.mark.parametrize("out", CAPTURE_OUTPUTS)
def test_closed_pipe_stops_file_capture(endless, out):
    r, w = os.pipe()
    p = spawn(["capture", "-r", endless.path, *CAPTURE_OUTPUTS[out]], w)
    os.close(w)
    got = close_after_some(p, r, 200)
    rc, err = run_until_exit(p)
    assert rc == 0, err
    assert errors(err) == [], err  # a closed pipe is no error
    if out.startswith("pcap"):
        assert got[:4] == struct.pack("<I", 0xA1B23C4D)  # a nanosecond pcap stream
    elif out.startswith("json"):
        assert got.startswith(b'{"ts":1700000000.')
    else:
        assert re.match(rb"\d\d:\d\d:\d\d\.000000 - \S*endless\.pcap UDP 10\.77\.0\.2:40001 > ", got), got


@pytest.mark.parametrize("out", CAPTURE_OUTPUTS)
def test_closed_pipe_stops_live_capture(veth, blaster, out):
    r, w = os.pipe()
    p = spawn(["capture", "-i", veth.a.ifname, *CAPTURE_OUTPUTS[out], "udp port 5000"], w,
              host=veth.a)
    os.close(w)
    assert p.stderr.readline().startswith(b"listening on")
    traffic = blaster()
    close_after_some(p, r, 200)
    rc, err = run_until_exit(p)
    assert traffic.t.is_alive()  # still sending: ipmon stopped because of the pipe
    assert rc == 0, err
    assert errors(err) == [], err
    m = re.search(r"^(\d+) packets? captured$", err, re.M)
    assert m, err


@pytest.mark.parametrize("fmt", ["--plain", "--json"])
def test_closed_pipe_stops_stats(veth, fmt):
    r, w = os.pipe()
    p = spawn(["stats", "-i", veth.a.ifname, "-I", "0.05", fmt], w, host=veth.a)
    os.close(w)
    close_after_some(p, r, 20)
    rc, err = run_until_exit(p)  # no -t: it would run forever
    assert rc == 0, err
    assert errors(err) == [], err


@pytest.mark.parametrize("fmt", [[], ["--json"]])
def test_closed_pipe_list(fmt):
    r, w = os.pipe()
    os.close(r)
    p = spawn(["list", *fmt], w)
    os.close(w)
    rc, err = run_until_exit(p)
    assert rc == 0, err
    assert err == "", err


# ---- full disk: /dev/full ----

def full_device():
    return os.open("/dev/full", os.O_WRONLY)


@pytest.mark.parametrize("out", CAPTURE_OUTPUTS)
def test_dev_full_stops_file_capture(endless, out):
    fd = full_device()
    p = spawn(["capture", "-r", endless.path, *CAPTURE_OUTPUTS[out]], fd)
    os.close(fd)
    rc, err = run_until_exit(p)
    assert rc == 1, err
    assert errors(err) == [f"ipmon: writing standard output failed: {ENOSPC}; "
                           "stopped after 0 packets written whole"], err


@pytest.mark.parametrize("out", CAPTURE_OUTPUTS)
def test_dev_full_stops_live_capture(veth, blaster, out):
    fd = full_device()
    p = spawn(["capture", "-i", veth.a.ifname, *CAPTURE_OUTPUTS[out], "udp port 5000"], fd,
              host=veth.a)
    os.close(fd)
    assert p.stderr.readline().startswith(b"listening on")
    traffic = blaster()
    rc, err = run_until_exit(p)
    assert traffic.t.is_alive()
    assert rc == 1, err
    assert f"writing standard output failed: {ENOSPC}" in err, err
    # Nothing reached /dev/full, so nothing may be claimed.
    assert re.search(r"^0 packets captured$", err, re.M), err


@pytest.mark.parametrize("flags", [[], ["-U"]])
def test_dev_full_as_write_file(endless, flags):
    p = spawn(["capture", "-r", endless.path, "-w", "/dev/full", *flags], subprocess.DEVNULL)
    rc, err = run_until_exit(p)
    assert rc == 1, err
    assert errors(err) == [f"ipmon: writing /dev/full failed: {ENOSPC}; it holds the first 0 "
                           "packets whole (free space, or choose another -w FILE)"], err


@pytest.mark.parametrize("fmt", ["--plain", "--json"])
def test_dev_full_stops_stats(veth, fmt):
    fd = full_device()
    p = spawn(["stats", "-i", veth.a.ifname, "-I", "0.05", fmt], fd, host=veth.a)
    os.close(fd)
    rc, err = run_until_exit(p)
    assert rc == 1, err
    assert errors(err) == [f"ipmon: writing standard output failed: {ENOSPC}"], err


@pytest.mark.parametrize("fmt", [[], ["--json"]])
def test_dev_full_list(fmt):
    fd = full_device()
    p = spawn(["list", *fmt], fd)
    os.close(fd)
    rc, err = run_until_exit(p)
    assert rc == 1, err
    assert errors(err) == [f"ipmon: writing standard output failed: {ENOSPC}"], err


# ---- full disk: a tiny tmpfs ----

@pytest.fixture
def tiny_fs():
    """A 256 KiB tmpfs mounted in a temporary directory, unmounted at the end."""
    d = tempfile.mkdtemp(prefix="ipmon-full-")
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k,mode=0755", "tmpfs", d], check=True)
    try:
        yield d
    finally:
        subprocess.run(["umount", "-l", d], check=False)
        shutil.rmtree(d, ignore_errors=True)


def packets_in(path):
    """What capinfos and tshark count in the file; they must agree, and the
    file must be whole (no record cut short)."""
    ci = subprocess.run(["capinfos", "-c", "-M", path], capture_output=True, text=True)
    assert ci.returncode == 0, ci.stderr
    n = int(re.search(r"Number of packets:\s+(\d+)", ci.stdout).group(1))
    ts = subprocess.run(["tshark", "-r", path, "-T", "fields", "-e", "frame.number"],
                        capture_output=True, text=True)
    assert ts.returncode == 0, ts.stderr  # non-zero when the file is cut short
    assert len(ts.stdout.splitlines()) == n
    return n


@pytest.mark.parametrize("flags", [[], ["-U"]])
def test_full_tmpfs_file_capture(endless, tiny_fs, flags):
    f = os.path.join(tiny_fs, "out.pcap")
    p = spawn(["capture", "-r", endless.path, "-w", f, *flags], subprocess.DEVNULL)
    rc, err = run_until_exit(p)
    assert rc == 1, err
    m = re.fullmatch(rf"ipmon: writing {re.escape(f)} failed: {ENOSPC}; it holds the first "
                     r"(\d+) packets whole \(free space, or choose another -w FILE\)",
                     "\n".join(errors(err)))
    assert m, err
    held = packets_in(f)
    assert held > 1000  # the file was filled, not given up on
    assert int(m.group(1)) == held


@pytest.mark.parametrize("flags", [[], ["-U"]])
def test_full_tmpfs_live_capture(veth, blaster, tiny_fs, flags):
    f = os.path.join(tiny_fs, "live.pcap")
    p = spawn(["capture", "-i", veth.a.ifname, "-w", f, *flags, "udp port 5000"],
              subprocess.DEVNULL, host=veth.a)
    assert p.stderr.readline().startswith(b"listening on")
    traffic = blaster()
    rc, err = run_until_exit(p)
    assert traffic.t.is_alive()  # stopped by the full disk, not by the traffic ending
    assert rc == 1, err
    assert f"ipmon: writing {f} failed: {ENOSPC}; it holds the first " in err, err
    held = packets_in(f)
    claimed = int(re.search(r"^(\d+) packets? captured$", err, re.M).group(1))
    said = int(re.search(r"it holds the first (\d+) packets", err).group(1))
    assert claimed == said == held, err


@pytest.mark.parametrize("args", [["--help"], ["capture", "--help"], ["stats", "--help"],
                                  ["--version"]])
def test_dev_full_help_and_version(args):
    fd = full_device()
    p = spawn(args, fd)
    os.close(fd)
    rc, err = run_until_exit(p)
    assert rc == 1, err
    assert errors(err) == [f"ipmon: writing standard output failed: {ENOSPC}"], err


# ---- a closed pipe with nothing to write ----

@pytest.mark.parametrize("args", [["capture", "-l"], ["capture", "-w", "-"],
                                  ["stats", "-I", "3600", "--plain"]])
def test_closed_pipe_on_a_quiet_adapter(veth, args):
    """No traffic (the loopback of the test's namespace carries none), so no
    write ever fails: ipmon must still notice that the reader of its pipe has
    gone, and not run until killed."""
    r, w = os.pipe()
    p = spawn([args[0], "-i", "lo", *args[1:]], w, host=veth.a)
    os.close(w)
    assert p.stderr.readline().startswith(b"listening on")
    os.close(r)
    rc, err = run_until_exit(p)
    assert rc == 0, err
    assert errors(err) == [], err
