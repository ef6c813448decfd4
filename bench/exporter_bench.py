#!/usr/bin/python3
"""exporter_bench.py - what `ipmon exporter` costs: scrape latency (median and
p95 of 100 scrapes) idle and while bench/blaster floods the counted veth, and
the exporter's resident memory and CPU idle and under that load.

    sudo /usr/bin/python3 bench/exporter_bench.py [BUILD_DIR]   # default build/

Runs in two network namespaces joined by a veth pair (tests/netns.py): the
exporter counts the veth in namespace a and is scraped over a's loopback;
the blaster sends from b. Prints one JSON object.
"""
import json
import os
import statistics
import subprocess
import sys
import time
import urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(ROOT, "tests"))
import netns  # noqa: E402

BUILD = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "build"))
IPMON = os.path.join(BUILD, "cli", "ipmon")
BLASTER = os.path.join(BUILD, "bench", "blaster")
URL = "http://127.0.0.1:19101/metrics"
TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def scrapes(host, n):
    times = []
    with host.entered():
        for _ in range(n):
            t0 = time.perf_counter()
            with urllib.request.urlopen(URL, timeout=5) as r:
                body = r.read()
            times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    return {"median_ms": round(statistics.median(times), 3), "p95_ms": round(times[int(0.95 * n) - 1], 3),
            "max_ms": round(times[-1], 3), "bytes": len(body)}


def counted(host, dev):
    with host.entered():
        body = urllib.request.urlopen(URL, timeout=5).read().decode()
    return sum(float(line.rsplit(" ", 1)[1]) for line in body.splitlines()
               if line.startswith(f'ipmonitor_packets_total{{device="{dev}"'))


def main():
    out = {}
    with netns.VethPair(prefix="ipxb") as veth:
        ex = veth.a.popen(IPMON, "exporter", "-i", veth.a.ifname, "--web.listen-address=127.0.0.1:19101",
                          stderr=subprocess.PIPE, text=True)
        try:
            line = ex.stderr.readline()
            assert line.startswith("listening on"), line
            pid = ex.pid
            time.sleep(1.0)
            c0, t0 = cpu_seconds(pid), time.monotonic()
            time.sleep(10.0)
            out["idle_cpu_percent"] = round(100 * (cpu_seconds(pid) - c0) / (time.monotonic() - t0), 3)
            out["idle_rss_kb"] = rss_kb(pid)
            out["idle_scrape"] = scrapes(veth.a, 100)
            before = counted(veth.a, veth.a.ifname)
            blast = veth.b.popen("taskset", "-c", "1", BLASTER, "-d", veth.a.ip4, "-s", "64", "-t", "8",
                                 stdout=subprocess.PIPE, text=True)
            time.sleep(1.0)
            c0, t0 = cpu_seconds(pid), time.monotonic()
            out["load_scrape"] = scrapes(veth.a, 100)
            time.sleep(max(0.0, 4.0 - (time.monotonic() - t0)))
            out["load_cpu_percent"] = round(100 * (cpu_seconds(pid) - c0) / (time.monotonic() - t0), 1)
            out["load_rss_kb"] = rss_kb(pid)
            sent = json.loads(blast.communicate(timeout=30)[0].strip().splitlines()[-1])
            time.sleep(1.5)
            out["blaster"] = sent
            out["counted_during_blast"] = counted(veth.a, veth.a.ifname) - before
        finally:
            ex.terminate()
            ex.wait(timeout=10)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
