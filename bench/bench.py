#!/usr/bin/python3
"""bench.py - the whole benchmark in one command: build, make the workloads,
measure, print the tables (and write them to bench/results/latest.md).

Run it as root (the live part needs network namespaces) through bench/run.sh:

    bench/run.sh              # everything, about 10-15 minutes on 2 cores
    bench/run.sh --quick      # smaller files, one run each: a minute or two

Parts, each comparing ipmonitor with a plain libpcap loop measured in the
same run (see bench/README.md for what limits each figure):
  offline   packets/s over a synthetic file for 4 filters: ipmonitor capture
            and statistics mode, raw_pcap_loop (pcap_open_offline and the
            large-buffer reader) and tcpdump -w /dev/null; median of N runs
  callgrind instructions per packet (marginal: between a 100k and a 200k
            packet file, so start-up costs cancel)
  memory    peak RSS over 1M and 10M packets
  live      two namespaces joined by veth; blaster floods UDP from one; each
            capturer in turn captures in the other at the same offered load
Only standard library modules: it runs on Debian's /usr/bin/python3.
"""
import argparse
import ctypes
import hashlib
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

BENCH = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH)
DATA = os.path.join(BENCH, "data")
RESULTS = os.path.join(BENCH, "results")
FILTERS = ["", "tcp port 80", "ip6 or udp", "greater 1000"]


# --------------------------------------------------------------------------
# Running programs
# --------------------------------------------------------------------------

class Run:
    """One finished process: exit status, output, wall time and rusage."""

    def __init__(self, rc, out, err, wall, ru):
        self.rc, self.out, self.err, self.wall, self.ru = rc, out, err, wall, ru

    @property
    def cpu(self):
        return self.ru.ru_utime + self.ru.ru_stime

    def result(self):
        """The program's JSON line (the last line of stdout that parses)."""
        for line in reversed(self.out.splitlines()):
            if line.startswith("{"):
                return json.loads(line)
        raise RuntimeError(f"no result line (exit {self.rc}): {self.err.strip()[-500:]}")


def start(cmd, tmp):
    """Start cmd with stdout/stderr in files; returns (Popen, out, err, t0)."""
    out = tempfile.NamedTemporaryFile("w+", dir=tmp, delete=False)
    err = tempfile.NamedTemporaryFile("w+", dir=tmp, delete=False)
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
    return p, out, err, t0


def finish(p, out, err, t0):
    """Reap p with wait4 (for its rusage) and collect its output."""
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    p.returncode = os.waitstatus_to_exitcode(status)
    texts = []
    for f in (out, err):
        f.seek(0)
        texts.append(f.read())
        f.close()
        os.unlink(f.name)
    return Run(p.returncode, texts[0], texts[1], wall, ru)


def run(cmd, tmp):
    return finish(*start(cmd, tmp))


# --------------------------------------------------------------------------
# Build and workloads
# --------------------------------------------------------------------------

class Programs:
    def __init__(self, bindir, ipm_error, python_dir=None):
        self.python_dir = python_dir  # the built package (PYTHONPATH), or None
        self.gen = os.path.join(bindir, "gen_pcap")
        self.raw = os.path.join(bindir, "raw_pcap_loop")
        self.blaster = os.path.join(bindir, "blaster")
        self.ipm = os.path.join(bindir, "ipm_bench") if not ipm_error else None
        self.bpf_cost = os.path.join(bindir, "bpf_cost")
        self.ipm_error = ipm_error


def build(build_dir):
    """cmake-build the bench programs. If the library does not build, the
    libpcap-only programs are still built (directly with cc if cmake cannot
    even configure) and the ipmonitor figures are reported as missing."""
    cfg = subprocess.run(["cmake", "-S", ROOT, "-B", build_dir, "-DCMAKE_BUILD_TYPE=RelWithDebInfo",
                          "-DIPM_BUILD_PYTHON=ON", "-DIPM_BUILD_TESTS=OFF"],
                         capture_output=True, text=True)
    bindir = os.path.join(build_dir, "bench")
    if cfg.returncode == 0:
        for t in ("gen_pcap", "raw_pcap_loop", "blaster"):
            subprocess.run(["cmake", "--build", build_dir, "-j2", "--target", t],
                           check=True, capture_output=True, text=True)
        b = subprocess.run(["cmake", "--build", build_dir, "-j2", "--target", "ipm_bench"],
                           capture_output=True, text=True)
        subprocess.run(["cmake", "--build", build_dir, "-j2", "--target", "bpf_cost"], capture_output=True, text=True)
        err = None if b.returncode == 0 else "ipm_bench did not build:\n" + tail(b.stdout + b.stderr)
        # The Python package, for the live Python capturers (skipped, and
        # said so, if it does not build).
        py = subprocess.run(["cmake", "--build", build_dir, "-j2", "--target", "_ipmonitor"],
                            capture_output=True, text=True)
        if py.returncode != 0:
            log("the Python package did not build; no live Python rows:\n" + tail(py.stdout + py.stderr))
        return Programs(bindir, err, os.path.join(build_dir, "python") if py.returncode == 0 else None)
    # cmake cannot configure (the library's sources are missing or broken).
    bindir = os.path.join(build_dir, "bench-fallback")
    os.makedirs(bindir, exist_ok=True)
    flags = ["cc", "-O2", "-g", "-std=c11", "-D_GNU_SOURCE", "-Wall", "-Wextra"]
    for name, libs in (("gen_pcap", []), ("raw_pcap_loop", ["-lpcap"]), ("blaster", [])):
        subprocess.run(flags + ["-o", os.path.join(bindir, name), os.path.join(BENCH, name + ".c")] + libs,
                       check=True)
    return Programs(bindir, "cmake could not configure the project:\n" + tail(cfg.stdout + cfg.stderr))


def tail(text, n=15):
    return "\n".join(text.strip().splitlines()[-n:])


def workload(progs, count, small=False):
    """The synthetic file of `count` packets, made once. Its name carries a
    hash of the generator's source, so changing the generator remakes it."""
    with open(os.path.join(BENCH, "gen_pcap.c"), "rb") as f:
        h = hashlib.sha256(f.read()).hexdigest()[:8]
    kind = "small" if small else "mix"
    path = os.path.join(DATA, f"{kind}-{count}-{h}.pcap")
    if not os.path.exists(path):
        os.makedirs(DATA, exist_ok=True)
        for old in os.listdir(DATA):  # files of older generators
            if old.startswith(f"{kind}-{count}-") and old.endswith(".pcap"):
                os.unlink(os.path.join(DATA, old))
        log(f"generating {path}")
        subprocess.run([progs.gen] + (["--small"] if small else []) + [str(count), path + ".tmp"], check=True)
        os.rename(path + ".tmp", path)
    return path


def warm(path):
    """Read the file once so every measured run finds it in the page cache."""
    with open(path, "rb") as f:
        while f.read(1 << 22):
            pass


# --------------------------------------------------------------------------
# Offline throughput
# --------------------------------------------------------------------------

def offline_programs(progs, path, flt):
    """(label, command, how to read the packet count) for one filter."""
    f = ["-f", flt] if flt else []
    rows = [("raw loop, pcap_open_offline", [progs.raw, "-r", path] + f),
            ("raw loop, 128 KiB stdio buffer", [progs.raw, "--bigbuf", path] + f)]
    if progs.ipm:
        rows += [("ipmonitor capture mode", [progs.ipm, "--mode", "capture", "-r", path] + f),
                 ("ipmonitor statistics mode", [progs.ipm, "--mode", "stat", "-r", path] + f)]
    rows.append(("tcpdump -w /dev/null", ["tcpdump", "-r", path, "-w", "/dev/null"] + ([flt] if flt else [])))
    return rows


def measure_offline(progs, path, total, runs, tmp):
    results = {}
    for flt in FILTERS:
        rows = offline_programs(progs, path, flt)
        times = {label: [] for label, _ in rows}
        matched = {}
        for _ in range(runs):
            for label, cmd in rows:  # interleaved, so load drift hits all alike
                r = run(cmd, tmp)
                if r.rc != 0:
                    raise RuntimeError(f"{' '.join(cmd)} failed: {r.err.strip()[-500:]}")
                if cmd[0] == "tcpdump":
                    times[label].append(r.wall)  # includes process start (~10 ms)
                else:
                    res = r.result()
                    times[label].append(res["seconds"])
                    matched.setdefault(label, set()).add(res["packets"])
        want = tcpdump_matches(path, flt, tmp)
        base = total / statistics.median(times[rows[0][0]])
        out = []
        for label, _ in rows:
            pps = total / statistics.median(times[label])
            counts = matched.get(label, {want})
            out.append({"program": label, "pps": pps, "ratio": pps / base,
                        "runs_mpps": [total / t / 1e6 for t in times[label]],
                        "matched": sorted(counts), "agrees": counts == {want}})
        results[flt or "(none)"] = {"tcpdump_matched": want, "rows": out}
        log(f"offline filter '{flt}': " + ", ".join(f"{o['program']} {o['pps'] / 1e6:.2f}" for o in out))
    return results


def tcpdump_matches(path, flt, tmp):
    """How many packets tcpdump says match: the count to agree with."""
    out = os.path.join(tmp, "matched.pcap")
    subprocess.run(["tcpdump", "-r", path, "-w", out] + ([flt] if flt else []),
                   check=True, capture_output=True)
    r = subprocess.run(["capinfos", "-c", "-M", out], check=True, capture_output=True, text=True)
    os.unlink(out)
    return int(re.search(r"Number of packets:\s*(\d+)", r.stdout).group(1))


# --------------------------------------------------------------------------
# Instructions per packet (callgrind)
# --------------------------------------------------------------------------

def callgrind_ir(cmd, outfile, tmp):
    r = run(["valgrind", "--tool=callgrind", "--callgrind-out-file=" + outfile] + cmd, tmp)
    if r.rc != 0:
        raise RuntimeError(f"callgrind {' '.join(cmd)}: {r.err.strip()[-500:]}")
    with open(outfile) as f:
        for line in f:
            if line.startswith(("summary:", "totals:")):
                return int(line.split()[1])
    raise RuntimeError(f"no totals in {outfile}")


def measure_callgrind(progs, small, large, n_small, n_large, tmp):
    """Instructions per packet, marginal between the two files so that the
    fixed costs (dynamic loading, opening, adapter listing) cancel."""
    progs_list = [("raw loop, pcap_open_offline", [progs.raw, "-r"]),
                  ("raw loop, 128 KiB stdio buffer", [progs.raw, "--bigbuf"]),
                  # What libpcap's user-space BPF costs even for an accept-all program.
                  ("raw loop, 128 KiB buffer, filter \"\"", [progs.raw, "-f", "", "--bigbuf"])]
    if progs.ipm:
        progs_list += [("ipmonitor capture mode", [progs.ipm, "--mode", "capture", "-r"]),
                       ("ipmonitor statistics mode", [progs.ipm, "--mode", "stat", "-r"])]
    out = []
    for label, cmd in progs_list:
        key = re.sub(r"[^a-z0-9]+", "-", label.lower()).strip("-")
        f_small = os.path.join(RESULTS, f"callgrind.{key}.{n_small}.out")
        f_large = os.path.join(RESULTS, f"callgrind.{key}.{n_large}.out")
        ir_small = callgrind_ir(cmd + [small], f_small, tmp)
        ir_large = callgrind_ir(cmd + [large], f_large, tmp)
        out.append({"program": label, "ir_total": ir_large, "ir_per_packet": ir_large / n_large,
                    "marginal": (ir_large - ir_small) / (n_large - n_small), "profile": f_large})
        log(f"callgrind {label}: {out[-1]['marginal']:.1f} Ir/packet")
    by = {o["program"]: o["marginal"] for o in out}
    for o in out:
        o["minus_raw"] = o["marginal"] - by["raw loop, pcap_open_offline"]
        o["minus_bigbuf"] = o["marginal"] - by["raw loop, 128 KiB stdio buffer"]
    return out


# --------------------------------------------------------------------------
# Memory
# --------------------------------------------------------------------------

def measure_memory(progs, files, tmp):
    """Peak RSS: VmHWM of the program's own image, which (unlike ru_maxrss
    and /usr/bin/time -v) leaves out the forking parent's pages."""
    rows = []
    cmds = [("raw loop, 128 KiB stdio buffer", [progs.raw, "--bigbuf"])]
    if progs.ipm:
        cmds += [("ipmonitor capture mode", [progs.ipm, "--mode", "capture", "-r"]),
                 ("ipmonitor statistics mode", [progs.ipm, "--mode", "stat", "-r"])]
    for label, cmd in cmds:
        row = {"program": label, "rss_kb": {}, "packets": {}}
        for n, path in files:
            r = run(cmd + [path], tmp)
            res = r.result()
            row["rss_kb"][n] = res["vm_hwm_kb"]
            row["packets"][n] = res["packets"]
        rows.append(row)
        log(f"memory {label}: {row['rss_kb']}")
    return rows


# --------------------------------------------------------------------------
# Live capture over veth
# --------------------------------------------------------------------------

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


class Veth:
    """Namespaces `rx` (captures) and `tx` (sends) joined by a veth pair with
    fixed addresses, static neighbours and IPv6 off, so the only traffic on
    the link is the blaster's. A UDP socket in `rx` takes the datagrams (and
    drops them when full) so the kernel sends no ICMP back."""

    def __init__(self):
        tag = str(os.getpid() % 100000)
        self.rx_ns, self.tx_ns = f"ipmbr{tag}", f"ipmbs{tag}"
        self.rx_if, self.tx_if = f"ipmbr{tag}", f"ipmbs{tag}"
        self.sink = None

    def sh(self, *args):
        subprocess.run(list(args), check=True, capture_output=True, text=True)

    def __enter__(self):
        try:
            self.sh("ip", "netns", "add", self.rx_ns)
            self.sh("ip", "netns", "add", self.tx_ns)
            self.sh("ip", "link", "add", self.rx_if, "netns", self.rx_ns, "type", "veth",
                    "peer", "name", self.tx_if, "netns", self.tx_ns)
            for ns, ifn, mac, ip in ((self.rx_ns, self.rx_if, "02:78:00:00:00:01", "10.78.0.1/24"),
                                     (self.tx_ns, self.tx_if, "02:78:00:00:00:02", "10.78.0.2/24")):
                self.sh("ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1",
                        "net.ipv6.conf.default.disable_ipv6=1")
                self.sh("ip", "-n", ns, "link", "set", ifn, "address", mac)
                self.sh("ip", "-n", ns, "addr", "add", ip, "dev", ifn)
                self.sh("ip", "-n", ns, "link", "set", "lo", "up")
                self.sh("ip", "-n", ns, "link", "set", ifn, "up")
            self.sh("ip", "-n", self.rx_ns, "neigh", "replace", "10.78.0.2", "lladdr", "02:78:00:00:00:02",
                    "dev", self.rx_if, "nud", "permanent")
            self.sh("ip", "-n", self.tx_ns, "neigh", "replace", "10.78.0.1", "lladdr", "02:78:00:00:00:01",
                    "dev", self.tx_if, "nud", "permanent")
            self.sink = self._sink_socket()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _sink_socket(self):
        back = os.open("/proc/self/ns/net", os.O_RDONLY)
        target = os.open(f"/run/netns/{self.rx_ns}", os.O_RDONLY)
        try:
            if _libc.setns(target, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns")
            try:
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
                s.bind(("10.78.0.1", 9))
                return s
            finally:
                if _libc.setns(back, CLONE_NEWNET) != 0:
                    raise OSError(ctypes.get_errno(), "setns back")
        finally:
            os.close(target)
            os.close(back)

    def __exit__(self, *exc):
        if self.sink:
            self.sink.close()
        for ns in (self.rx_ns, self.tx_ns):  # deleting a namespace deletes its veth end
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)

    def link_stats(self, ns, ifn):
        r = subprocess.run(["ip", "-j", "-s", "-n", ns, "link", "show", "dev", ifn],
                           check=True, capture_output=True, text=True)
        return json.loads(r.stdout)[0]["stats64"]


HOST_ALONE = "no monitor (the host alone)"


TAP_FLOOR = "tap floor: a packet socket keeping nothing"


def capturers(progs, iface):
    """(label, command) of each live capturer; None: no capturer at all."""
    c = [(HOST_ALONE, None)]
    if progs.ipm:
        # The two statistics engines (config StatisticsEngine; the default,
        # auto, is the kernel's wherever it may load BPF, as here as root).
        c += [("ipmonitor stat, kernel engine",
               [progs.ipm, "--mode", "stat", "--config", "StatisticsEngine=kernel", "-i", iface]),
              ("ipmonitor stat, ring engine",
               [progs.ipm, "--mode", "stat", "--config", "StatisticsEngine=ring", "-i", iface]),
              ("ipmonitor capture, defaults (1024 KB)", [progs.ipm, "--mode", "capture", "-i", iface]),
              ("ipmonitor capture, -B 4096", [progs.ipm, "--mode", "capture", "-B", "4096", "-i", iface]),
              ("ipmonitor capture, -B 32768", [progs.ipm, "--mode", "capture", "-B", "32768", "-i", iface]),
              # PACKET_FANOUT: two monitors in two threads share the adapter,
              # each with its own 1024 KB ring (config FanoutGroup).
              ("ipmonitor capture, 2 fanout workers (1024 KB each)",
               [progs.ipm, "--mode", "capture", "--fanout", "2", "-i", iface])]
    # The floor of any packet-socket monitor: libpcap's socket on the
    # adapter with a kernel filter that keeps nothing (no copy, no wake-up):
    # what the tap alone costs the host. It captures nothing by design.
    c += [(TAP_FLOOR, [progs.raw, "-f", "less 0", "-i", iface])]
    c += [("raw loop, libpcap default (2 MiB)", [progs.raw, "-i", iface]),
          ("raw loop, -B 1024", [progs.raw, "-B", "1024", "-i", iface]),
          ("tcpdump -w /dev/null (2 MiB)", ["tcpdump", "-i", iface, "-w", "/dev/null"]),
          ("tcpdump -B 1024 -w /dev/null", ["tcpdump", "-B", "1024", "-i", iface, "-w", "/dev/null"])]
    if progs.python_dir:
        # The Python package (bench/python/live_capturer.py), with the
        # package's defaults (1024 KiB, as "ipmonitor capture, defaults"),
        # and scapy's sniff beside it.
        py = ["env", "PYTHONPATH=" + progs.python_dir, "/usr/bin/python3",
              os.path.join(BENCH, "python", "live_capturer.py"), "-i", iface, "--way"]
        c += [("python stat, on_statistics", py + ["stat"]),
              ("python capture, on_packet", py + ["on_packet"]),
              ("python capture, packets()", py + ["packets"]),
              ("python capture, apackets()", py + ["apackets"]),
              ("python scapy sniff()", py + ["scapy"])]
    return c


def parse_tcpdump_stats(err):
    def num(pat):
        m = re.search(r"(\d+) packets? " + pat, err)
        return int(m.group(1)) if m else None
    return {"packets": num("captured"), "received": num("received by filter"),
            "kernel_drops": num("dropped by kernel"), "if_drops": num("dropped by interface") or 0}


def wait_ready(p, errfile, timeout=15.0):
    """Wait until the capturer says it listens (ours: 'ready:', tcpdump:
    'listening on'), or fail if it exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with open(errfile.name) as f:
            text = f.read()
        if "ready:" in text or "listening on" in text:
            return
        if p.poll() is not None:
            raise RuntimeError(f"capturer exited early: {text.strip()[-500:]}")
        time.sleep(0.01)
    raise RuntimeError("capturer did not become ready")


def softirq_seconds():
    """The host's time in softirqs so far, all CPUs (/proc/stat, USER_HZ)."""
    with open("/proc/stat") as f:
        fields = f.readline().split()
    return int(fields[7]) / os.sysconf("SC_CLK_TCK")


def blast(veth, progs, generators, frame, seconds, tmp):
    """Run the blasters; returns what they sent and the host's softirq seconds meanwhile."""
    soft0 = softirq_seconds()
    blasters = [start(["ip", "netns", "exec", veth.tx_ns, "taskset", "-c", str(i % os.cpu_count()),
                       progs.blaster, "-d", "10.78.0.1", "-p", "9", "-s", str(frame), "-t", str(seconds)], tmp)
                for i in range(generators)]
    sent = [finish(*b).result()["sent"] for b in blasters]
    return sent, softirq_seconds() - soft0


def live_once(veth, progs, cmd, generators, frame, seconds, tmp, flush):
    rx0 = veth.link_stats(veth.rx_ns, veth.rx_if)
    tx0 = veth.link_stats(veth.tx_ns, veth.tx_if)
    if cmd is None:  # the host alone: what it sustains with no monitor
        sent, softirq = blast(veth, progs, generators, frame, seconds, tmp)
        rx1 = veth.link_stats(veth.rx_ns, veth.rx_if)
        offered = sum(sent)
        delivered = rx1["rx"]["packets"] - rx0["rx"]["packets"]
        return {"offered": offered, "delivered": delivered, "veth_dropped": 0, "captured": delivered,
                "kernel_drops": 0, "if_drops": 0, "ratio": 1.0, "cpu": 0.0, "cpu_user": 0.0, "cpu_sys": 0.0,
                "offered_pps": offered / seconds, "softirq": softirq}
    cap = start(["ip", "netns", "exec", veth.rx_ns] + cmd, tmp)
    try:
        wait_ready(cap[0], cap[2])
        sent, softirq = blast(veth, progs, generators, frame, seconds, tmp)
        # Packets wait in the ring up to the packet timeout (1 s for all capturers).
        time.sleep(flush)
    finally:
        cap[0].send_signal(signal.SIGINT)
    r = finish(*cap)
    rx1 = veth.link_stats(veth.rx_ns, veth.rx_if)
    tx1 = veth.link_stats(veth.tx_ns, veth.tx_if)
    if r.rc != 0:
        raise RuntimeError(f"capturer {' '.join(cmd)} failed: {r.err.strip()[-500:]}")
    res = parse_tcpdump_stats(r.err) if cmd[0] == "tcpdump" else r.result()
    offered = sum(sent)
    return {"offered": offered,
            "delivered": rx1["rx"]["packets"] - rx0["rx"]["packets"],
            "veth_dropped": (rx1["rx"]["dropped"] - rx0["rx"]["dropped"]) + (tx1["tx"]["dropped"] - tx0["tx"]["dropped"]),
            "captured": res["packets"], "kernel_drops": res["kernel_drops"], "if_drops": res["if_drops"],
            "ratio": res["packets"] / offered if offered else 0.0,
            "cpu": r.cpu, "cpu_user": r.ru.ru_utime, "cpu_sys": r.ru.ru_stime,
            "offered_pps": offered / seconds, "softirq": softirq}


def measure_live(progs, runs, seconds, tmp, loads, only):
    results = []
    with Veth() as veth:
        caps = [c for c in capturers(progs, veth.rx_if)
                if not only or c[0] == HOST_ALONE or any(o in c[0] for o in only)]
        for g, frame in loads:
            # Rounds of every capturer in turn, so load drift on the shared
            # machine hits them all alike.
            by_label = {label: [] for label, _ in caps}
            for _ in range(runs):
                for label, cmd in caps:
                    by_label[label].append(live_once(veth, progs, cmd, g, frame, seconds, tmp, flush=1.3))
            for label, _ in caps:
                # the run with the median capture ratio (the host alone: median rate)
                samples = sorted(by_label[label],
                                 key=lambda s: s["offered_pps"] if label == HOST_ALONE else s["ratio"])
                med = dict(samples[len(samples) // 2])  # the run with the median capture ratio
                med.update({"generators": g, "frame": frame, "capturer": label,
                            "ratios": [s["ratio"] for s in samples]})
                results.append(med)
                log(f"live {g} gen {frame} B {label}: offered {med['offered']}, captured {med['captured']} "
                    f"({med['ratio'] * 100:.2f}%), drops {med['kernel_drops']}, cpu {med['cpu']:.2f} s")
    return results


# --------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------

def machine():
    model = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    tcpdump = subprocess.run(["tcpdump", "--version"], capture_output=True, text=True).stdout.splitlines()
    with open("/proc/loadavg") as f:
        load = " ".join(f.read().split()[:3])
    return {"cores": os.cpu_count(), "cpu": model, "kernel": platform.release(),
            "tcpdump": tcpdump[0] if tcpdump else "?", "libpcap": tcpdump[1] if len(tcpdump) > 1 else "?",
            "loadavg_at_start": load, "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}


def measure_bpf_cost(progs):
    """The kernel engine's counting program, timed by the kernel
    (BPF_PROG_TEST_RUN, a million runs on one frame): ns per packet."""
    if not os.path.exists(progs.bpf_cost):
        log("bpf_cost did not build: no kernel program cost")
        return None
    p = subprocess.run([progs.bpf_cost], capture_output=True, text=True)
    if p.returncode != 0:
        log("bpf_cost failed: " + p.stderr.strip()[-300:])
        return None
    rows = []
    for line in p.stdout.splitlines():
        flt, detail, frame, ns = line.rsplit("|", 3)
        rows.append({"filter": flt, "detail": detail == "1", "frame": int(frame), "ns": int(ns)})
    return rows


def report(m, args, total, off, cg, mem, live, ipm_error, bpfc=None):
    L = []
    L.append("# ipmonitor benchmark results\n")
    L.append(f"{m['date']}; {m['cores']} cores, {m['cpu']}, Linux {m['kernel']}; {m['libpcap']}; "
             f"{m['tcpdump']}; load average at start {m['loadavg_at_start']}.\n")
    if ipm_error:
        L.append("**ipmonitor figures missing**: " + ipm_error.splitlines()[0] + "\n")
    L += targets(off, cg, live)
    if off:
        L.append(f"## Offline: {total:,} packets from a page-cached file, median of {args.runs} runs\n")
        L.append("Packets read per second (all packets of the file, whatever the filter keeps); "
                 "ratio to the raw pcap_open_offline loop of the same run. "
                 "tcpdump is timed from outside (process start included).\n")
        L.append("| filter | matched | program | Mpps | vs raw loop | runs (Mpps) |")
        L.append("|---|---:|---|---:|---:|---|")
        for flt, d in off.items():
            for i, o in enumerate(d["rows"]):
                ok = "" if o["agrees"] else f" **count {o['matched']} != {d['tcpdump_matched']}**"
                L.append(f"| {flt if i == 0 else ''} | {d['tcpdump_matched'] if i == 0 else ''} | {o['program']}{ok} | "
                         f"{o['pps'] / 1e6:.2f} | {o['ratio']:.2f}x | "
                         f"{' '.join(f'{x:.2f}' for x in o['runs_mpps'])} |")
        L.append("")
    if cg:
        L.append(f"## Instructions per packet (callgrind, marginal between {args.cg_small:,} and "
                 f"{args.cg_large:,} packets, no filter)\n")
        L.append("| program | Ir/packet | minus raw loop (open_offline) | minus raw loop (128 KiB buffer) |")
        L.append("|---|---:|---:|---:|")
        for o in cg:
            L.append(f"| {o['program']} | {o['marginal']:.1f} | {o['minus_raw']:+.1f} | {o['minus_bigbuf']:+.1f} |")
        L.append("")
    if mem:
        ns = sorted(mem[0]["rss_kb"])
        L.append("## Peak RSS (60-byte packets, no filter)\n")
        L.append("| program | " + " | ".join(f"{n:,} packets" for n in ns) + " | growth |")
        L.append("|---|" + "---:|" * (len(ns) + 1))
        for r in mem:
            g = r["rss_kb"][ns[-1]] - r["rss_kb"][ns[0]]
            L.append(f"| {r['program']} | " + " | ".join(f"{r['rss_kb'][n]:,} KB" for n in ns) + f" | {g:+,} KB |")
        L.append("")
    if bpfc:
        L.append("## The kernel engine's program, per packet (BPF_PROG_TEST_RUN)\n")
        L.append("The counting program the statistics engine \"kernel\" attaches (the expression translated "
                 "from classic BPF, plus the counting tail), run a million times on one frame by the kernel, "
                 "which reports its mean ns per run (the test-run loop's own overhead included). This is "
                 "what the engine adds to each packet's softirq beyond the packet socket's tap, which every "
                 "capturer pays.\n")
        L.append("| filter | StatisticsDetail | 64 B UDP | 1400 B TCP |")
        L.append("|---|---|---:|---:|")
        by = {}
        for r in bpfc:
            by.setdefault((r["filter"], r["detail"]), {})[r["frame"]] = r["ns"]
        for (flt, detail), ns in by.items():
            L.append(f"| `{flt}` | {'on' if detail else 'off'} | {ns.get(64, '?')} ns | {ns.get(1400, '?')} ns |")
        L.append("")
    if live:
        L.append(f"## Live: veth between two namespaces, {args.live_seconds:g} s of UDP per run, "
                 f"run with the median capture ratio of {args.live_runs}\n")
        L.append("offered = datagrams the blaster(s) sent; delivered = the receiving veth's rx_packets; "
                 "kernel drops = pcap_stats ps_drop / ipm dropped / tcpdump 'dropped by kernel'; "
                 "CPU = user+sys of the capturer process.\n")
        L.append("| gen | frame | capturer | offered (Mpps) | delivered | captured | kernel drops | if drops | "
                 "captured/offered | CPU s (user+sys) | all runs |")
        L.append("|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---|")
        for r in live:
            L.append(f"| {r['generators']} | {r['frame']} | {r['capturer']} | {r['offered']:,} ({r['offered_pps'] / 1e6:.2f}) | "
                     f"{r['delivered']:,} | {r['captured']:,} | {num(r['kernel_drops'])} | {num(r['if_drops'])} | "
                     f"{r['ratio'] * 100:.2f}% | {r['cpu']:.2f} ({r['cpu_user']:.2f}+{r['cpu_sys']:.2f}) | "
                     f"{' '.join(f'{x * 100:.1f}%' for x in r['ratios'])} |")
        L.append("")
        L += cost_table(live)
    return "\n".join(L)


def cost_table(live):
    """What each monitor costs the host: the rate the blasters sustain
    beside it, as a share of the rate with no monitor, and the CPU it and
    the kernel's softirqs spend per million packets offered."""
    alone = {(r["generators"], r["frame"]): r for r in live if r["capturer"] == HOST_ALONE}
    if not alone:
        return []
    L = ["## What the monitor costs the host\n",
         "rate = datagrams/s the blasters sustained with this capturer running, as a share of the rate "
         "with no monitor (same load, same rounds); CPU and softirq per million packets offered "
         "(softirq: the whole host's, /proc/stat).\n",
         "| gen | frame | capturer | rate (Mpps) | share of unmonitored | capturer CPU ms/Mpkt | softirq ms/Mpkt |",
         "|---:|---:|---|---:|---:|---:|---:|"]
    for r in live:
        base = alone.get((r["generators"], r["frame"]))
        if not base:
            continue
        mp = r["offered"] / 1e6 if r["offered"] else float("nan")
        L.append(f"| {r['generators']} | {r['frame']} | {r['capturer']} | {r['offered_pps'] / 1e6:.3f} | "
                 f"{r['offered_pps'] / base['offered_pps'] * 100:.1f}% | {r['cpu'] * 1000 / mp:.0f} | "
                 f"{r.get('softirq', 0) * 1000 / mp:.0f} |")
    L.append("")
    return L


def num(v):
    """A count for a table cell; scapy keeps no drop counts (None)."""
    return "n/a" if v is None else f"{v:,}"


def targets(off, cg, live):
    """The issue's targets, checked against this run's figures."""
    L = []

    def check(ok, text):
        L.append(f"- [{'x' if ok else ' '}] {text}")

    if off:
        for mode in ("capture", "statistics"):
            ratios = {f: next(o["ratio"] for o in d["rows"] if o["program"] == f"ipmonitor {mode} mode")
                      for f, d in off.items() if any(o["program"] == f"ipmonitor {mode} mode" for o in d["rows"])}
            if ratios:
                check(min(ratios.values()) >= 1.4, f"offline, {mode} mode >= 1.4x the raw loop: "
                      + ", ".join(f"{f} {r:.2f}x" for f, r in ratios.items()))
    if cg:
        by = {o["program"]: o for o in cg}
        for mode, limit in (("statistics", 25), ("capture", 40)):
            o = by.get(f"ipmonitor {mode} mode")
            if o:
                check(o["minus_bigbuf"] < limit, f"{mode} mode's own cost < {limit} Ir/packet "
                      f"(minus the raw loop on the 128 KiB reader): {o['minus_bigbuf']:.1f}")
    if live:
        rows = {(r["generators"], r["frame"], r["capturer"]): r for r in live}
        loads = sorted({(r["generators"], r["frame"]) for r in live})
        def drops(load, name):
            r = rows.get(load + (name,))
            return None if r is None else r["offered"] - r["captured"]

        def loss(load, name):
            """Mean share lost over all runs: offered loads differ between
            runs, and one run's drops are noisy on a busy machine."""
            r = rows.get(load + (name,))
            return None if r is None else statistics.mean(1 - x for x in r["ratios"])
        for engine in ("kernel", "ring"):
            stat = [drops(ld, f"ipmonitor stat, {engine} engine") for ld in loads]
            if None not in stat:
                check(all(d == 0 for d in stat), f"live, statistics mode ({engine} engine) loses nothing: "
                      + ", ".join(f"{g} gen {f} B: {d}" for (g, f), d in zip(loads, stat)))
        stat = [drops(ld, "ipmonitor stat, kernel engine") for ld in loads]
        alone = {ld: rows.get(ld + (HOST_ALONE,)) for ld in loads}
        kern = {ld: rows.get(ld + ("ipmonitor stat, kernel engine",)) for ld in loads}
        ring = {ld: rows.get(ld + ("ipmonitor stat, ring engine",)) for ld in loads}
        if all(alone.values()) and all(kern.values()):
            share = {ld: kern[ld]["offered_pps"] / alone[ld]["offered_pps"] for ld in loads}
            check(all(v >= 0.97 for v in share.values()),
                  "live, the kernel engine costs the host less than 3% of its unmonitored rate: "
                  + ", ".join(f"{g} gen {f} B: {share[(g, f)] * 100:.1f}%" for g, f in loads))
        if all(kern.values()) and all(ring.values()):
            check(all(kern[ld]["cpu"] < ring[ld]["cpu"] / 10 for ld in loads),
                  "live, the kernel engine's capturer CPU < 1/10 of the ring engine's: "
                  + ", ".join(f"{g} gen {f} B: {kern[(g, f)]['cpu']:.3f} vs {ring[(g, f)]['cpu']:.3f} s"
                              for g, f in loads))
        pystat = [drops(ld, "python stat, on_statistics") for ld in loads]
        if None not in pystat and None not in stat:
            check(all(p == 0 for p, c in zip(pystat, stat) if c == 0),
                  "live, Python statistics mode loses nothing at the loads where C's loses nothing: "
                  + ", ".join(f"{g} gen {f} B: {p} (C {c})" for (g, f), p, c in zip(loads, pystat, stat)))
        cap = [(loss(ld, "ipmonitor capture, defaults (1024 KB)"), loss(ld, "tcpdump -B 1024 -w /dev/null"))
               for ld in loads]
        if all(c is not None and t is not None for c, t in cap):
            check(all(c <= t for c, t in cap), "live, capture mode (1024 KB) loses no larger share than tcpdump -B 1024 (mean of all runs): "
                  + ", ".join(f"{g} gen {f} B: {c * 100:.2f}% vs {t * 100:.2f}%" for (g, f), (c, t) in zip(loads, cap)))
        fan = [(loss(ld, "ipmonitor capture, 2 fanout workers (1024 KB each)"),
                loss(ld, "ipmonitor capture, defaults (1024 KB)")) for ld in loads if ld == (2, 1400)]
        if fan and all(a is not None and b is not None for a, b in fan):
            check(all(a <= b / 2 for a, b in fan), "live, 2 fanout workers lose at most half of what one "
                  "worker loses with the same buffer (2 gen 1400 B, mean of all runs): "
                  + ", ".join(f"{a * 100:.2f}% vs {b * 100:.2f}%" for a, b in fan))
        big = [drops(ld, "ipmonitor capture, -B 32768") for ld in loads]
        if None not in big:
            check(all(d == 0 for d in big), "live, capture mode with 32 MiB loses nothing: "
                  + ", ".join(f"{g} gen {f} B: {d}" for (g, f), d in zip(loads, big)))
        cpu = [(rows.get(ld + ("ipmonitor capture, defaults (1024 KB)",)), rows.get(ld + ("raw loop, -B 1024",)))
               for ld in loads]
        if all(a and b for a, b in cpu):
            # CPU times of 0.05-0.2 s are noisy: allow 20% or 20 ms.
            check(all(a["cpu"] <= max(b["cpu"] * 1.2, b["cpu"] + 0.02) for a, b in cpu),
                  "live, capture mode's CPU no higher than the raw loop's with the same buffer (within noise): "
                  + ", ".join(f"{g} gen {f} B: {a['cpu']:.2f} vs {b['cpu']:.2f} s" for (g, f), (a, b) in zip(loads, cpu)))
    return ["## Targets\n"] + L + [""] if L else []


def log(msg):
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small files, one run each")
    ap.add_argument("--packets", type=int, default=5_000_000, help="offline file size")
    ap.add_argument("--runs", type=int, default=5, help="offline runs per figure (median)")
    ap.add_argument("--live-runs", type=int, default=5, help="live runs per figure (median)")
    ap.add_argument("--live-seconds", type=float, default=2.0, help="blaster duration per live run")
    ap.add_argument("--loads", default="1x64,1x1400,2x64,2x1400",
                    help="live loads as GENERATORSxFRAME_BYTES, comma-separated")
    ap.add_argument("--capturers", default="",
                    help="live: only capturers whose label contains one of these comma-separated words")
    ap.add_argument("--only", default="offline,callgrind,memory,bpfcost,live", help="comma-separated parts to run")
    ap.add_argument("--build-dir", default=os.path.join(ROOT, "build-bench"))
    args = ap.parse_args()
    if args.quick:
        args.packets, args.runs, args.live_runs, args.live_seconds = 500_000, 1, 1, 1.0
    args.cg_small, args.cg_large = 100_000, 200_000
    parts = set(args.only.split(","))

    log("building")
    progs = build(args.build_dir)
    if progs.ipm_error:
        log("WARNING: " + progs.ipm_error)
    os.makedirs(RESULTS, exist_ok=True)
    m = machine()
    off = cg = mem = live = bpfc = None
    with tempfile.TemporaryDirectory(prefix="ipm-bench-") as tmp:
        if "offline" in parts:
            path = workload(progs, args.packets)
            warm(path)
            off = measure_offline(progs, path, args.packets, args.runs, tmp)
        if "callgrind" in parts:
            if shutil.which("valgrind"):
                cg = measure_callgrind(progs, workload(progs, args.cg_small), workload(progs, args.cg_large),
                                       args.cg_small, args.cg_large, tmp)
            else:
                log("valgrind missing: no instruction counts")
        if "memory" in parts:
            counts = [100_000, 1_000_000] if args.quick else [1_000_000, 10_000_000]
            files = [(n, workload(progs, n, small=True)) for n in counts]
            mem = measure_memory(progs, files, tmp)
        if "bpfcost" in parts:
            if os.geteuid() == 0:
                bpfc = measure_bpf_cost(progs)
            else:
                log("not root: no kernel program cost")
        if "live" in parts:
            if os.geteuid() == 0:
                loads = [tuple(int(x) for x in ld.split("x")) for ld in args.loads.split(",")]
                only = [o for o in args.capturers.split(",") if o]
                live = measure_live(progs, args.live_runs, args.live_seconds, tmp, loads, only)
            else:
                log("not root: no live figures")
    text = report(m, args, args.packets, off, cg, mem, live, progs.ipm_error, bpfc)
    print(text)
    # Only a complete default run replaces latest.md: partial or quick runs
    # must not overwrite the figures the README was made from.
    complete = (parts >= {"offline", "callgrind", "memory", "live"} and not args.quick
                and not args.capturers and args.loads == ap.get_default("loads"))
    name = "latest" if complete else "quick" if args.quick else "partial"
    with open(os.path.join(RESULTS, name + ".md"), "w") as f:
        f.write(text + "\n")
    with open(os.path.join(RESULTS, name + ".json"), "w") as f:
        json.dump({"machine": m, "offline": off, "callgrind": cg, "memory": mem, "live": live, "bpf_cost": bpfc,
                   "ipm_error": progs.ipm_error}, f, indent=1, default=str)
    log(f"wrote {os.path.join(RESULTS, name + '.md')}")


if __name__ == "__main__":
    # Turn SIGTERM/SIGHUP into exceptions so the namespaces are removed.
    for s in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, lambda *_: sys.exit(1))
    main()
