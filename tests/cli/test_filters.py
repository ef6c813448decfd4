"""ipmon and large or bad filter expressions.

A bad expression is a usage error whose message gives libpcap's reason
first, whatever the length of the expression. A large expression keeps
libpcap's compiler busy (its optimizer takes seconds to minutes for
hundreds of terms, and cannot be interrupted): Ctrl-C or SIGTERM then ends
ipmon at once, by the signal, as it would a program without a handler.
"""
import os
import signal
import struct
import subprocess
import time

import pytest

from conftest import IPMON, run_ipmon


def write_pcap(path, frames):
    """A classic microsecond pcap of Ethernet frames."""
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for i, frame in enumerate(frames):
            f.write(struct.pack("<IIII", 1700000000 + i, 0, len(frame), len(frame)))
            f.write(frame)


def udp_frame():
    eth = bytes.fromhex("027700000001027700000002") + b"\x08\x00"
    ip = bytes.fromhex("4500001e00000000401100000a0000020a000001")
    udp = struct.pack(">HHHH", 4000, 5000, 10, 0) + b"hi"
    return eth + ip + udp


def many_hosts(n):
    return " or ".join(f"host 10.{i // 250}.{i % 250}.1" for i in range(n))


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_long_bad_filter_gives_the_reason_first(tmp_path):
    path = tmp_path / "one.pcap"
    write_pcap(path, [udp_frame()])
    expr = many_hosts(2000) + " or udp port"
    r = run_ipmon("capture", "-r", str(path), expr)
    assert r.returncode == 2, r.stderr
    lines = r.stderr.splitlines()
    assert len(lines) == 1, r.stderr
    line = lines[0]
    assert line.startswith("ipmon"), line
    assert "syntax error" in line, line
    assert line.index("syntax error") < line.index('"host 10.0.0.1'), line
    assert f"({len(expr)} characters)" in line, line
    assert len(line) < 600, line


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_during_a_long_compile_ends_ipmon(tmp_path, sig):
    path = tmp_path / "one.pcap"
    write_pcap(path, [udp_frame()])
    # 800 terms: tens of seconds of libpcap's optimizer on this machine.
    proc = subprocess.Popen([IPMON, "capture", "-r", str(path), many_hosts(800)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        # Inside the compile once it has used some CPU and printed nothing.
        deadline = time.monotonic() + 60
        while cpu_seconds(proc.pid) < 0.5:
            assert proc.poll() is None, proc.stderr.read()
            assert time.monotonic() < deadline
            time.sleep(0.05)
        proc.send_signal(sig)
        rc = proc.wait(timeout=10)
        assert rc == -sig, (rc, proc.stderr.read())
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
