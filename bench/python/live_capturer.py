#!/usr/bin/python3
"""live_capturer.py - a live capturer in Python, for bench/bench.py's live part.

It plays the part bench/ipm_bench.c plays for C: captures on one adapter
until SIGINT, says "ready: ..." on stderr once the capture is open, and at
the end prints one JSON line on stdout with what it saw ("packets") and the
kernel's drops, the line bench.py reads from every capturer. The ways:

  on_packet   IPMonitor, capture mode, a Python on_packet that counts
  packets     for pkt in m.packets(): count          (the iterator)
  apackets    async for pkt in m.apackets(): count   (asyncio, the monitor's fd)
  stat        IPMonitor, statistics mode, an on_statistics that sums
  scapy       scapy's sniff(iface=..., prn=<count>, store=False)

Every way uses the package's defaults (1024 KiB buffer, 1 s packet timeout)
but for scapy, which has neither and reports no drops (null).

SIGINT (scapy: its own KeyboardInterrupt handling): the handler only sets a flag; the loops look at it between
do_events calls (each returns within the 1 s packet timeout), then take what
the ring still holds (do_events_timeout(0)) before reading the drops. The
packets()/apackets() loops give the iterator a 1 s timeout per round and
go round again until the flag is set, so the iterator object stays the one
measured.

Run by bench.py with PYTHONPATH set to the build's python/ folder.
"""
import argparse
import json
import signal
import sys


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--way", required=True, choices=("on_packet", "packets", "apackets", "stat", "scapy"))
    ap.add_argument("-i", dest="iface", required=True)
    a = ap.parse_args()
    if a.way == "scapy":
        return run_scapy(a.iface)
    stop = [False]

    def on_sigint(signum, frame):
        stop[0] = True
    signal.signal(signal.SIGINT, on_sigint)

    import ipmonitor
    m = ipmonitor.IPMonitor()
    m.list_adapters()
    count = [0]
    if a.way == "stat":
        m.operation_mode = ipmonitor.PCAP_MODE_STAT

        def on_statistics(e):
            count[0] += e.captured_packets
        m.on_statistics = on_statistics
    elif a.way == "on_packet":
        def on_packet(e):
            count[0] += 1
        m.on_packet = on_packet
    m.activate(a.iface)
    print(f"ready: python {a.way} on {a.iface}", file=sys.stderr, flush=True)

    if a.way in ("on_packet", "stat"):
        while not stop[0]:
            m.do_events()
        m.do_events_timeout(0)
    elif a.way == "packets":
        while not stop[0]:
            for _ in m.packets(timeout=1.0):
                count[0] += 1
    else:
        import asyncio

        async def consume():
            while not stop[0]:
                async for _ in m.apackets(timeout=1.0):
                    count[0] += 1
        asyncio.run(consume())
    received, dropped, if_dropped = m.get_statistics()
    m.deactivate()
    print(json.dumps({"packets": count[0], "received": received, "kernel_drops": dropped,
                      "if_drops": if_dropped}))
    return 0


def run_scapy(iface):
    from scapy.all import conf, sniff
    conf.verb = 0
    count = [0]

    def prn(p):
        count[0] += 1

    def ready():
        print(f"ready: scapy sniff on {iface}", file=sys.stderr, flush=True)
    # sniff() ends on KeyboardInterrupt (Python's own SIGINT handler), as it
    # does at a terminal; it keeps no drop counts.
    try:
        sniff(iface=iface, prn=prn, store=False, started_callback=ready)
    except KeyboardInterrupt:
        pass
    print(json.dumps({"packets": count[0], "received": None, "kernel_drops": None, "if_drops": None}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
