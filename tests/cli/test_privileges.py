"""`ipmon` as an ordinary user: with file capabilities (setcap) on an installed
copy at a temporary prefix and on a copy of the build's binary, capturing
works; without them the error names the exact setcap line; `ipmon list` and
`ipmon capture -r` need no privilege.

A program with file capabilities runs in secure mode, where the loader
ignores $ORIGIN, so an ipmon linked to the shared library at a prefix the
build was not configured for did not start (exit 127). The user is `nobody`
(setpriv drops to it inside the test's namespace); the copies live in a
world-readable temporary directory removed at the end.
"""
import os
import shutil
import stat
import subprocess
import tempfile

import pytest

import netns
from conftest import IPMON

BUILD = os.environ.get("IPM_BUILD_DIR") or os.path.dirname(os.path.dirname(os.path.abspath(IPMON)))
CAPS = "cap_net_raw,cap_net_admin=eip"
NOBODY = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]


@pytest.fixture(scope="module")
def place():
    """A temporary directory every user can read and enter."""
    d = tempfile.mkdtemp(prefix="ipmon-priv-")
    os.chmod(d, 0o755)
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="module")
def installed(place):
    """ipmon installed by `cmake --install` at a prefix of its own, with caps."""
    prefix = os.path.join(place, "prefix")
    subprocess.run(["cmake", "--install", BUILD, "--prefix", prefix], check=True,
                   capture_output=True)
    exe = os.path.join(prefix, "bin", "ipmon")
    assert os.access(exe, os.X_OK), exe
    subprocess.run(["setcap", CAPS, exe], check=True)
    return exe


@pytest.fixture(scope="module")
def copied(place):
    """A copy of the build's ipmon, with caps."""
    exe = os.path.join(place, "ipmon-copy")
    shutil.copy2(IPMON, exe)
    subprocess.run(["setcap", CAPS, exe], check=True)
    return exe


@pytest.fixture(scope="module")
def with_bpf(place):
    """A copy of the build's ipmon with caps and CAP_BPF (the kernel engine)."""
    exe = os.path.join(place, "ipmon-bpf")
    shutil.copy2(IPMON, exe)
    subprocess.run(["setcap", "cap_net_raw,cap_net_admin,cap_bpf=eip", exe], check=True)
    return exe


@pytest.fixture(scope="module")
def bare(place):
    """A copy of the build's ipmon without any capability."""
    exe = os.path.join(place, "ipmon-bare")
    shutil.copy2(IPMON, exe)
    os.chmod(exe, os.stat(exe).st_mode | stat.S_IXOTH | stat.S_IROTH)
    return exe


def as_nobody(host, exe, *args, timeout=20):
    """Run `exe args` as user nobody inside `host`'s namespace."""
    cmd = ["ip", "netns", "exec", host.ns, *NOBODY, exe, *args]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def capture_three(veth, exe):
    """Capture 3 UDP datagrams sent b -> a as nobody; returns (rc, out, err)."""
    p = as_nobody(veth.a, exe, "capture", "-i", veth.a.ifname, "-c", "3", "-l", "udp port 5300")
    try:
        listening = p.stderr.readline()
        if not listening.startswith("listening on"):
            out, err = p.communicate(timeout=10)
            return p.returncode, out, listening + err
        netns.send_udp(veth.b, veth.a.ip4, 5300, [b"p" * n for n in (10, 20, 30)])
        out, err = p.communicate(timeout=15)
        return p.returncode, out, listening + err
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


@pytest.mark.parametrize("which", ["installed", "copied"])
def test_capture_with_file_capabilities_as_nobody(veth, request, which):
    exe = request.getfixturevalue(which)
    got = subprocess.run(["getcap", exe], capture_output=True, text=True).stdout
    assert "cap_net_admin,cap_net_raw=eip" in got, got
    rc, out, err = capture_three(veth, exe)
    assert rc == 0, (rc, err)
    lines = out.splitlines()
    assert len(lines) == 3, out
    assert all(" UDP 10.77.0.2:" in line and "> 10.77.0.1:5300" in line for line in lines), out
    assert "3 packets captured" in err, err


def test_installed_ipmon_needs_no_libipmonitor_at_run_time(installed):
    """The installed binary names no libipmonitor.so for the loader to find."""
    ldd = subprocess.run(["ldd", installed], capture_output=True, text=True).stdout
    assert "libipmonitor" not in ldd, ldd
    assert "libpcap" in ldd, ldd


def test_without_capabilities_the_error_says_what_to_grant(veth, bare):
    p = as_nobody(veth.a, bare, "capture", "-i", veth.a.ifname, "-c", "1")
    out, err = p.communicate(timeout=20)
    assert p.returncode == 1, (p.returncode, err)
    assert out == ""
    assert f"setcap {CAPS} {bare}" in err, err
    assert err.startswith("ipmon: no permission to capture on"), err
    assert len(err.splitlines()) == 1, err


def test_list_and_read_file_need_no_privilege(veth, bare, place):
    p = as_nobody(veth.a, bare, "list", "--json")
    out, err = p.communicate(timeout=20)
    assert p.returncode == 0, err
    assert veth.a.ifname in out
    # A capture file written by root, read back by nobody.
    f = os.path.join(place, "three.pcap")
    w = subprocess.Popen(["ip", "netns", "exec", veth.a.ns, IPMON, "capture", "-i", veth.a.ifname,
                          "-c", "2", "-w", f, "udp port 5301"], stderr=subprocess.PIPE, text=True)
    try:
        assert w.stderr.readline().startswith("listening on")
        netns.send_udp(veth.b, veth.a.ip4, 5301, [b"r" * 5, b"r" * 6])
        assert w.wait(timeout=15) == 0
    finally:
        if w.poll() is None:
            w.kill()
            w.wait()
    os.chmod(f, 0o644)
    p = as_nobody(veth.a, bare, "capture", "-r", f, "--json")
    out, err = p.communicate(timeout=20)
    assert p.returncode == 0, err
    assert len(out.splitlines()) == 2, out
    assert '"dport":5301' in out


@pytest.mark.skipif(os.environ.get("IPM_PLATFORM") == "posix", reason="no kernel engine on IPM_PLATFORM=posix")
@pytest.mark.parametrize("which,says", [
    ("with_bpf", "counted in the kernel (eBPF)"),
    ("copied", "counted by the ring engine (not the kernel's: "),
])
def test_stats_engine_as_nobody_follows_cap_bpf(veth, request, which, says):
    """As an ordinary user with file capabilities: with cap_bpf among them
    `ipmon stats` counts in the kernel; without, it counts from a ring and
    says why (naming CAP_BPF)."""
    exe = request.getfixturevalue(which)
    p = as_nobody(veth.a, exe, "stats", "-i", veth.a.ifname, "-t", "0.3", "--json")
    out, err = p.communicate(timeout=20)
    assert p.returncode == 0, err
    first = err.splitlines()[0]
    assert first.startswith(f"listening on {veth.a.ifname}, interval 1 s, {says}"), first
    if which == "copied":
        assert "CAP_BPF" in first, first
    assert '"type":"total"' in out
