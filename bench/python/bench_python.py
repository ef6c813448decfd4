#!/usr/bin/python3
"""bench_python.py - packets per second of the Python package, side by side.

Over one pcap file of at least a million small UDP frames, in one run:
  - the C library alone (a C on_packet that counts; and statistics mode),
  - the Python package with a trivial on_packet handler, with a handler
    that reads the packet bytes, and in statistics mode,
  - the same capture through a build of the package that takes and
    releases the GIL around every packet, for comparison with the package's
    choice (keep the GIL from the first event of a batch until do_events
    returns), alone and with a second Python thread busy; that build
    (build/bench/python/gil_per_event) runs in a child process,
  - scapy's sniff(offline=...) with a trivial prn (Debian's python3-scapy),
    on the first --scapy-packets packets (it is ~100x slower).
Each figure is the best of --repeat runs. A benchmark, not a test: it
asserts only that every run saw every packet.

Run: PYTHONPATH=build/python /usr/bin/python3 bench/python/bench_python.py
(or with the package pip-installed). The benchmark's own modules (the C
library alone, the per-event GIL build) are found in BUILD/bench/python
(--build, default: the repository's build/). See bench/python/README.md.
"""
import argparse
import json
import os
import struct
import subprocess
import sys
import tempfile
import threading
import time

import ipmonitor  # the package on PYTHONPATH (the child's: the per-event GIL build)

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

LINKTYPE_ETHERNET = 1


def udp_frame(payload):
    udp = struct.pack("!HHHH", 4000, 5000, 8 + len(payload), 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0,
                     bytes([10, 9, 0, 1]), bytes([10, 9, 0, 2]))
    return b"\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01\x08\x00" + ip + udp


def make_pcap(path, count, payload_size):
    """count frames of 42 + payload_size bytes, 1 us apart."""
    frame = udp_frame(b"x" * payload_size)
    hdr = struct.Struct("<IIII")
    n = len(frame)
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, LINKTYPE_ETHERNET))
        step = 100_000
        for start in range(0, count, step):
            f.write(b"".join(hdr.pack(1_700_000_000 + i // 1_000_000, i % 1_000_000, n, n) + frame
                             for i in range(start, min(count, start + step))))


def best(repeat, fn):
    """(seconds, result) of the fastest of `repeat` runs."""
    runs = [fn() for _ in range(repeat)]
    return min(runs, key=lambda r: r[0])


def run_python(path, mode, handler_kind):
    m = ipmonitor.IPMonitor()
    m.operation_mode = mode
    count = [0]
    if handler_kind == "trivial":
        def on_packet(e):
            pass
        m.on_packet = on_packet
    elif handler_kind == "count":
        def on_packet(e):
            count[0] += 1
        m.on_packet = on_packet
    elif handler_kind == "data":
        def on_packet(e):
            count[0] += len(e.data)
        m.on_packet = on_packet

    def on_statistics(e):
        count[0] += e.captured_packets
    m.on_statistics = on_statistics
    t0 = time.perf_counter()
    m.activate(path)
    while m.active:
        m.do_events()
    secs = time.perf_counter() - t0
    received = m.get_statistics()[0]
    return secs, (received, count[0])


def run_iterator(path, kind):
    """packets() (kind "sync") or apackets() ("async") over the whole file,
    counting what they yield."""
    m = ipmonitor.IPMonitor()
    t0 = time.perf_counter()
    if kind == "sync":
        n = sum(1 for _ in m.packets(path))
    else:
        import asyncio

        async def consume():
            k = 0
            async for _ in m.apackets(path):
                k += 1
            return k
        n = asyncio.run(consume())
    return time.perf_counter() - t0, n


def run_decoded(path):
    """on_packet reading decoded fields: proto, src (an ipaddress object),
    dport."""
    m = ipmonitor.IPMonitor()
    seen = [0]

    def on_packet(e):
        if e.proto == "UDP" and e.src is not None and e.dport == 5000:
            seen[0] += 1
    m.on_packet = on_packet
    t0 = time.perf_counter()
    m.activate(path)
    while m.active:
        m.do_events()
    return time.perf_counter() - t0, seen[0]


def run_scapy_decode(path, count):
    """The same fields by scapy, from the same bytes (already in memory):
    what a program that has the packets does to read them."""
    from scapy.layers.inet import IP, UDP
    from scapy.layers.l2 import Ether
    frames = [p.data for p in ipmonitor.IPMonitor().packets(path, count=count)]
    t0 = time.perf_counter()
    seen = 0
    for f in frames:
        pkt = Ether(f)
        if UDP in pkt and pkt[IP].src and pkt[UDP].dport == 5000:
            seen += 1
    return time.perf_counter() - t0, seen


def run_native(path, mode):
    import _ipm_bench
    packets, _bytes, secs = _ipm_bench.native_run(path, mode)
    return secs, packets


def run_busy(path):
    """One trivial-handler capture while a second Python thread spins, so
    the GIL is contended."""
    stop = threading.Event()
    spinner = threading.Thread(target=lambda: [None for _ in iter(stop.is_set, True)])
    spinner.start()
    try:
        return run_python(path, 0, "trivial")
    finally:
        stop.set()
        spinner.join()


def gil_per_event_rows(path, repeat):
    """In this (child) process, with the per-event GIL build imported: the
    trivial-handler capture alone (best of `repeat`) and with a busy second
    thread, as [[name, seconds, received], ...] on stdout."""
    rows = []
    secs, (received, _) = best(repeat, lambda: run_python(path, 0, "trivial"))
    rows.append(["Python capture mode, pass, GIL taken per packet", secs, received])
    secs, (received, _) = run_busy(path)
    rows.append(["Python capture, pass, busy 2nd thread, GIL taken per packet", secs, received])
    json.dump(rows, sys.stdout)


def run_gil_per_event(build, path, repeat):
    """The rows of gil_per_event_rows, from a child process that imports the
    package built with IPM_PY_GIL_PER_EVENT instead of the shipped one."""
    variant = os.path.join(build, "bench", "python", "gil_per_event")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [variant] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
    out = subprocess.run([sys.executable, os.path.abspath(__file__), "--build", build,
                          "--repeat", str(repeat), "--pcap", path, "--gil-per-event-child"],
                         env=env, check=True, stdout=subprocess.PIPE, text=True).stdout
    return json.loads(out)


def run_scapy(path, count):
    from scapy.all import sniff
    seen = [0]

    def prn(p):
        seen[0] += 1
    t0 = time.perf_counter()
    sniff(offline=path, store=False, prn=prn, count=count)
    return time.perf_counter() - t0, seen[0]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--packets", type=int, default=1_000_000)
    ap.add_argument("--payload", type=int, default=18, help="UDP payload bytes (18 -> 60-byte frames)")
    ap.add_argument("--scapy-packets", type=int, default=50_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--pcap", help="use/create this file (default: a temporary file)")
    ap.add_argument("--build", default=os.path.join(REPO, "build"),
                    help="the CMake build tree holding bench/python (default: %(default)s)")
    ap.add_argument("--gil-per-event-child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    sys.path.insert(0, os.path.join(args.build, "bench", "python"))
    if args.gil_per_event_child:
        where = os.path.dirname(os.path.abspath(ipmonitor._ipmonitor.__file__))
        if not where.startswith(os.path.join(os.path.abspath(args.build), "bench")):
            sys.exit(f"the per-event GIL build was not imported (got {where})")
        gil_per_event_rows(args.pcap, args.repeat)
        return

    tmpdir = None
    path = args.pcap
    if not path:
        tmpdir = tempfile.TemporaryDirectory(prefix="ipmpy-bench-")
        path = os.path.join(tmpdir.name, "bench.pcap")
    if not os.path.exists(path):
        make_pcap(path, args.packets, args.payload)
    n = args.packets
    print(f"file: {path}: {n} packets of {42 + args.payload} bytes; Python {sys.version.split()[0]} "
          f"({sys.executable}); ipmonitor {ipmonitor.__version__}; best of {args.repeat}")

    rows = []

    def row(name, secs, packets):
        rows.append((name, packets, secs, packets / secs))
        print(f"  {name:<66} {packets:>9} pkts {secs:8.3f} s {packets / secs / 1e6:8.3f} Mpps",
              flush=True)

    secs, p = best(args.repeat, lambda: run_native(path, 0))
    assert p == n, p
    row("C library alone, capture mode (C handler)", secs, p)
    # Statistics mode: the C library alone and through Python, interleaved
    # so that both see the same machine (it is shared); best of each.
    nat, py = [], []
    for _ in range(max(5, args.repeat)):
        nat.append(run_native(path, 1))
        py.append(run_python(path, 1, None))
    secs, p = min(nat, key=lambda r: r[0])
    assert p == n, p
    row("C library alone, statistics mode", secs, p)
    native_stat = secs

    for kind, label in (("trivial", "def on_packet(e): pass"),
                        ("count", "def on_packet(e): count[0] += 1"),
                        ("data", "def on_packet(e): n += len(e.data)")):
        secs, (received, c) = best(args.repeat, lambda: run_python(path, 0, kind))
        assert received == n, received
        if kind == "count":
            assert c == n, c
        row(f"Python capture mode, {label}", secs, n)

    for kind, label in (("sync", "for pkt in m.packets(path)"),
                        ("async", "async for pkt in m.apackets(path)")):
        secs, c = best(args.repeat, lambda: run_iterator(path, kind))
        assert c == n, c
        row(f"Python iterator, {label}", secs, n)
    secs, c = best(args.repeat, lambda: run_decoded(path))
    assert c == n, c
    row("Python decoded fields, on_packet reading proto, src, dport", secs, n)
    k = min(args.scapy_packets, n)
    secs, c = best(1, lambda: run_scapy_decode(path, k))
    assert c == k, c
    row(f"scapy Ether(bytes) reading the same fields, first {k}", secs, k)

    # With a second Python thread busy, the GIL is contended: taking it per
    # packet hands it over at every packet; keeping it does so every 5 ms.
    (alone, busy) = run_gil_per_event(args.build, path, args.repeat)
    assert alone[2] == n and busy[2] == n, (alone, busy)
    row(alone[0], alone[1], n)
    secs, (received, _) = run_busy(path)
    assert received == n, received
    row("Python capture, pass, busy 2nd thread, GIL kept per batch (default)", secs, n)
    row(busy[0], busy[1], n)

    secs, (received, c) = min(py, key=lambda r: r[0])
    assert c == n, c
    row("Python statistics mode (on_statistics)", secs, n)
    print(f"  statistics mode, Python vs C library alone: {100 * (secs / native_stat - 1):+.1f}% time")

    k = min(args.scapy_packets, n)
    secs, p = best(1, lambda: run_scapy(path, k))
    assert p == k, p
    row(f"scapy sniff(offline=..., prn=pass), first {k}", secs, p)

    if tmpdir:
        tmpdir.cleanup()


if __name__ == "__main__":
    main()
