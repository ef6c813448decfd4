"""Helpers of the Python-package tests: pcap files with known packets, a
do_events loop that stops on a condition, activation inside a namespace, and
the C library reached directly through ctypes to get its own error messages.
"""
import ctypes
import os
import struct
import time

import pytest

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="capturing needs root (CAP_NET_RAW)")

LINKTYPE_ETHERNET = 1


# ---- frames and pcap files -------------------------------------------------

def udp_frame(payload, src_port=4000, dst_port=5000, src_ip="10.9.0.1", dst_ip="10.9.0.2",
              src_mac=b"\x02\x00\x00\x00\x00\x01", dst_mac=b"\x02\x00\x00\x00\x00\x02"):
    """An Ethernet/IPv4/UDP frame (checksums left 0: nothing checks them)."""
    udp = struct.pack("!HHHH", src_port, dst_port, 8 + len(payload), 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0,
                     bytes(map(int, src_ip.split("."))), bytes(map(int, dst_ip.split("."))))
    return dst_mac + src_mac + b"\x08\x00" + ip + udp


def write_pcap(path, records, snaplen=262144):
    """records: (time_ns, frame bytes[, wire length]); a microsecond pcap."""
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, snaplen, LINKTYPE_ETHERNET))
        for rec in records:
            t_ns, frame = rec[0], rec[1]
            wire = rec[2] if len(rec) > 2 else len(frame)
            f.write(struct.pack("<IIII", t_ns // 1_000_000_000, (t_ns // 1000) % 1_000_000,
                                len(frame), wire))
            f.write(frame)
    return str(path)


def big_pcap(path, count, payload_size=18):
    """A pcap of `count` identical-size UDP frames, 1 us apart."""
    frame = udp_frame(b"x" * payload_size)
    hdr = struct.Struct("<IIII")
    base_s = 1_700_000_000
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, LINKTYPE_ETHERNET))
        n = len(frame)
        f.write(b"".join(hdr.pack(base_s + i // 1_000_000, i % 1_000_000, n, n) + frame
                         for i in range(count)))
    return str(path)


# ---- running a monitor -----------------------------------------------------

def run_until(mon, done, timeout=10.0):
    """Call do_events until done() is true; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, "timed out waiting for the expected events"
        mon.do_events()


def run_file(mon, path):
    """Activate a capture file and process it to the end."""
    mon.activate(path)
    run_until(mon, lambda: not mon.active)


def activate_in(host, mon, timeout_ms=50):
    """List adapters and activate host's interface from inside its namespace
    (the capture socket stays there), with a short packet timeout."""
    with host.entered():
        mon.list_adapters()
        idx = mon.find_adapter(host.ifname)
        mon.set_adapter_packet_timeout(idx, timeout_ms)
        mon.activate(host.ifname)
    return idx


# ---- the C library itself, for its messages --------------------------------

class CLib:
    """libipmonitor through ctypes: the library's own answer to compare with."""

    def __init__(self, path):
        lib = ctypes.CDLL(path)
        lib.ipm_new.restype = ctypes.c_void_p
        lib.ipm_free.argtypes = [ctypes.c_void_p]
        lib.ipm_last_error.restype = ctypes.c_char_p
        lib.ipm_last_error.argtypes = [ctypes.c_void_p]
        lib.ipm_last_error_code.argtypes = [ctypes.c_void_p]
        self.lib = lib

    def error_of(self, *calls):
        """Run calls (name, *args) on a fresh monitor; the last one's
        (code, message)."""
        m = ctypes.c_void_p(self.lib.ipm_new())
        try:
            for name, *args in calls:
                fn = getattr(self.lib, name)
                fn.argtypes = [ctypes.c_void_p] + [ctypes.c_char_p if isinstance(a, bytes)
                                                   else ctypes.c_int for a in args]
                fn(m, *args)
            return self.lib.ipm_last_error_code(m), self.lib.ipm_last_error(m).decode()
        finally:
            self.lib.ipm_free(m)
