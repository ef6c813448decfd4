"""ipmon's command line contract: help, exit codes (0 ok, 1 runtime error,
2 usage error) and one clear error line on stderr."""
import os
import shutil
import subprocess
import tempfile

import pytest

import netns
from conftest import IPMON, run_ipmon


@pytest.mark.parametrize("args", [["--help"], ["capture", "--help"], ["stats", "--help"], ["exporter", "--help"],
                                  ["list", "--help"], ["help", "capture"], ["-h"]])
def test_help_exits_0(args):
    r = run_ipmon(*args)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("Usage: ipmon"), r.stdout
    assert r.stderr == ""


def test_version():
    r = run_ipmon("--version")
    assert r.returncode == 0
    assert r.stdout.startswith("ipmon 1.0.0 (libipmonitor 1.0.0)")


@pytest.mark.parametrize("args, needle", [
    (["capture", "--bogus"], "--bogus"),
    (["capture", "-k"], "-k"),
    (["capture", "-c"], "-c"),
    (["capture", "-c", "abc"], "'abc'"),
    (["capture", "-c", "0"], "-c"),
    (["capture", "-s", "-5"], "-s"),
    (["capture", "-B", "lots"], "-B"),
    (["capture", "-Q", "sideways"], "sideways"),
    (["capture", "-i", "lo", "-r", "x.pcap"], "-r"),
    (["capture", "-w", "-", "--print"], "--print"),
    (["stats", "-I", "0"], "-I"),
    (["stats", "-t", "soon"], "'soon'"),
    (["stats", "--interval"], "--interval"),
    (["capture", "-r", "x.pcap", "-Q", "in"], "-Q selects by direction on live adapters only"),
    (["list", "--nope"], "--nope"),
    (["list", "extra"], "extra"),
    (["frobnicate"], "frobnicate"),
    (["--bogus"], "--bogus"),
])
def test_bad_usage_exits_2_with_one_line(args, needle):
    r = run_ipmon(*args)
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert r.stdout == ""
    lines = r.stderr.splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("ipmon"), lines[0]
    assert needle in lines[0], lines[0]
    assert "--help" in lines[0]


def test_bad_filter_exits_2(veth):
    r = run_ipmon("capture", "-i", veth.a.ifname, "-c", "1", "udp", "port", "((", host=veth.a)
    assert r.returncode == 2, r.stderr
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("ipmon: "), r.stderr


@pytest.mark.parametrize("cmd", [["capture", "-c", "1"], ["stats", "-t", "1"]])
def test_unknown_adapter_exits_1(veth, cmd):
    r = run_ipmon(*cmd, "-i", "nosuch0", host=veth.a)
    assert r.returncode == 1, r.stderr
    assert r.stderr == "ipmon: no adapter named 'nosuch0' (see 'ipmon list')\n"


def test_missing_file_exits_1(tmp_path):
    missing = tmp_path / "nothing.pcap"
    r = run_ipmon("capture", "-r", str(missing))
    assert r.returncode == 1
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("ipmon: ") and str(missing) in lines[0], r.stderr


def test_unwritable_output_exits_1(veth, tmp_path):
    target = tmp_path / "no" / "such" / "dir.pcap"
    r = run_ipmon("capture", "-i", veth.a.ifname, "-c", "1", "-w", str(target), host=veth.a)
    assert r.returncode == 1
    assert r.stderr.startswith(f"ipmon: cannot write {target}: "), r.stderr
    assert len(r.stderr.splitlines()) == 1, r.stderr
    assert not target.exists()


def test_missing_privilege_says_how_to_grant(veth):
    # An unprivileged user: the message must name the remedy (setcap / root).
    cmd = ["ip", "netns", "exec", veth.a.ns, "setpriv", "--reuid=65534", "--regid=65534",
           "--clear-groups", IPMON, "capture", "-i", veth.a.ifname, "-c", "1"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    assert r.returncode == 1, r.stderr
    lines = r.stderr.splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("ipmon: ")
    assert "setcap cap_net_raw,cap_net_admin=eip " + os.path.realpath(IPMON) in lines[0], lines[0]
    # ipmon's own hint, added after the library's message for IPM_E_PERMISSION.
    assert lines[0].endswith("; 'ipmon list' needs no privilege"), lines[0]


def test_setcap_as_the_message_says_lets_a_user_capture(veth):
    # Follow the advice of the message above on a copy of the binary.
    if not shutil.which("setcap"):
        pytest.skip("setcap is not installed")
    d = tempfile.mkdtemp(prefix="ipmon-cap-")
    try:
        os.chmod(d, 0o755)
        exe = os.path.join(d, "ipmon")
        shutil.copy(IPMON, exe)
        subprocess.run(["setcap", "cap_net_raw,cap_net_admin=eip", exe], check=True)
        cmd = ["ip", "netns", "exec", veth.a.ns, "setpriv", "--reuid=65534", "--regid=65534",
               "--clear-groups", exe, "capture", "-i", veth.a.ifname, "-c", "1", "-l", "udp"]
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            assert p.stderr.readline().startswith(f"listening on {veth.a.ifname}")
            netns.send_udp(veth.b, "10.77.0.1", 5000, [b"cap"])
            out, err = p.communicate(timeout=15)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
        assert p.returncode == 0, err
        assert " UDP 10.77.0.2:" in out and "> 10.77.0.1:5000 payload 3 len 45" in out
    finally:
        shutil.rmtree(d, ignore_errors=True)
