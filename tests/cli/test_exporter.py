"""`ipmon exporter` end to end, judged by a real Prometheus server and promtool.

Everything runs inside the test namespaces of a VethPair: the exporter and
Prometheus (Debian's `prometheus`, a temporary data folder, scrape interval
1 s) both in namespace `a`, talking over that namespace's loopback, so the
scrapes never cross the veth the exporter counts. The test sends known UDP
traffic over the veth and asks Prometheus' HTTP API: the counters per device,
direction, protocol and family equal what was sent, and rate() is non-zero
while it flows. The same with TLS and basic auth (Prometheus' own tls_config
and basic_auth); a wrong password gets 401. Also: promtool check metrics on a
scrape, the textfile (never half-written), an adapter deleted while running,
-Z, and the start-up errors. Every wait is on a condition (Prometheus'
/-/ready, a query's answer, the exporter's "listening on" line).
"""
import base64
import http.client
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

import netns
from conftest import IPMON, run_ipmon

ETH, IP4, IP6, UDP = 14, 20, 40, 8
PORT = 19101          # the exporter's default port (inside the test namespace)
PROM_PORT = 9090
# What the "listening on" line says counts (auto: the kernel engine, as root,
# on Linux; the posix platform layer has only the ring engine).
def engine(ifname):
    if os.environ.get("IPM_PLATFORM") == "posix":
        return (f", counted by the ring engine (not the kernel's: {ifname}: the kernel statistics engine "
                "needs Linux's eBPF socket filters)")
    return ", counted in the kernel (eBPF)"
PROMETHEUS = shutil.which("prometheus")
PROMTOOL = shutil.which("promtool")

needs_prometheus = pytest.mark.skipif(not PROMETHEUS or not PROMTOOL,
                                      reason="Debian's prometheus package is not installed (scripts/install-deps.sh)")


def wait_for(what, fn, timeout=15.0, every=0.05):
    """Call fn until it returns a true value; fail after `timeout` s."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = fn()
            if last:
                return last
        except (OSError, ValueError, KeyError) as e:
            last = e
        time.sleep(every)
    raise AssertionError(f"timed out waiting for {what}; last: {last!r}")


def http_get(host, url, user=None, password=None, cafile=None, timeout=5):
    """GET url from inside host's namespace: (status, headers, body text)."""
    req = urllib.request.Request(url)
    if user is not None:
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        req.add_header("Authorization", f"Basic {token}")
    ctx = ssl.create_default_context(cafile=cafile) if cafile else None
    with host.entered():
        try:
            with urllib.request.urlopen(req, timeout=timeout, context=ctx) as r:
                return r.status, dict(r.headers), r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers), e.read().decode()


def parse_exposition(text):
    """{(name, frozenset(labels)): value} from the text format."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        series, value = line.rsplit(" ", 1)
        if "{" in series:
            name, labels = series[:-1].split("{", 1)
            pairs = frozenset(tuple(kv.split("=", 1)) for kv in labels.split(","))
            pairs = frozenset((k, v.strip('"')) for k, v in pairs)
        else:
            name, pairs = series, frozenset()
        out[(name, pairs)] = float(value)
    return out


def value(metrics, name, **labels):
    return metrics.get((name, frozenset(labels.items())))


class Exporter:
    """ipmon exporter in a namespace; its stderr read in a thread."""

    def __init__(self, host, *args, wrap=None):
        """wrap: argv -> argv, to run the exporter under another program."""
        self.host = host
        argv = [IPMON, "exporter", *args]
        self.proc = host.popen(*(wrap(argv) if wrap else argv), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
        self.lines = []
        self._listening = threading.Event()
        self._t = threading.Thread(target=self._pump, daemon=True)
        self._t.start()

    def _pump(self):
        for line in self.proc.stderr:
            self.lines.append(line)
            if line.startswith("listening on"):
                self._listening.set()
        self._listening.set()

    def wait_listening(self, timeout=10):
        assert self._listening.wait(timeout), f"no 'listening on' within {timeout}s: {self.lines}"
        assert self.proc.poll() is None, f"exporter exited: {self.lines}"
        return next(x for x in self.lines if x.startswith("listening on"))

    def stop(self, sig=signal.SIGTERM):
        """SIGTERM (or sig); returns the exit code (must end within 5 s)."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        rc = self.proc.wait(timeout=5)
        self._t.join(5)
        return rc

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


class Prometheus:
    """A real Prometheus server in `host`'s namespace with a temporary data
    folder, scraping one target every second."""

    def __init__(self, host, workdir, scrape):
        self.host = host
        cfg = {"global": {"scrape_interval": "1s", "scrape_timeout": "900ms", "evaluation_interval": "1s"},
               "scrape_configs": [dict({"job_name": "ipmon"}, **scrape)]}
        self.cfg_path = os.path.join(workdir, "prometheus.yml")
        with open(self.cfg_path, "w") as f:
            json.dump(cfg, f)  # JSON is YAML
        self.log = open(os.path.join(workdir, "prometheus.log"), "w")
        self.proc = host.popen(PROMETHEUS, f"--config.file={self.cfg_path}",
                               f"--storage.tsdb.path={os.path.join(workdir, 'data')}",
                               f"--web.listen-address=127.0.0.1:{PROM_PORT}",
                               "--storage.tsdb.retention.time=1h", "--log.level=warn",
                               stdout=self.log, stderr=subprocess.STDOUT)
        self.base = f"http://127.0.0.1:{PROM_PORT}"
        wait_for("Prometheus /-/ready", lambda: self._ready(), timeout=30)

    def _ready(self):
        assert self.proc.poll() is None, "prometheus exited; see its log"
        return http_get(self.host, self.base + "/-/ready", timeout=1)[0] == 200

    def query(self, q):
        """The instant vector of q as {frozenset(labels): float}."""
        status, _, body = http_get(self.host, self.base + "/api/v1/query?" + urllib.parse.urlencode({"query": q}))
        assert status == 200, body
        data = json.loads(body)["data"]["result"]
        return {frozenset((k, v) for k, v in r["metric"].items() if k not in ("job", "instance", "__name__")):
                float(r["value"][1]) for r in data}

    def scalar(self, q):
        r = self.query(q)
        return next(iter(r.values())) if len(r) == 1 else None

    def targets(self):
        status, _, body = http_get(self.host, self.base + "/api/v1/targets")
        return json.loads(body)["data"]["activeTargets"]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


@pytest.fixture
def workdir():
    d = tempfile.mkdtemp(prefix="ipmon-exporter-")
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def running():
    """running(cls, ...) -> instance; every one stopped at the end."""
    started = []

    def start(cls, *args, **kw):
        obj = cls(*args, **kw)
        started.append(obj)
        return obj

    yield start
    for obj in reversed(started):
        if isinstance(obj, Exporter):
            obj.kill()
        else:
            obj.stop()


def sizes_v4(n):
    return ETH + IP4 + UDP + n


def sizes_v6(n):
    return ETH + IP6 + UDP + n


class Flow(threading.Thread):
    """UDP both ways over the veth until stopped: b->a over IPv4 (in at a),
    a->b over IPv6 (out at a), about 200 datagrams a second each; counts
    what it sent."""

    def __init__(self, veth):
        super().__init__(daemon=True)
        self.veth = veth
        self.stop_ev = threading.Event()
        self.in_packets = self.in_bytes = self.out_packets = self.out_bytes = 0

    def run(self):
        s4 = self.veth.b.socket(socket.AF_INET)
        s6 = self.veth.a.socket(socket.AF_INET6)
        try:
            i = 0
            while not self.stop_ev.is_set():
                n = 1 + i % 50
                s4.sendto(b"i" * n, ("10.77.0.1", 5000))
                self.in_packets += 1
                self.in_bytes += sizes_v4(n)
                s6.sendto(b"o" * (n + 3), ("fd77::2", 5000))
                self.out_packets += 1
                self.out_bytes += sizes_v6(n + 3)
                i += 1
                self.stop_ev.wait(0.005)
        finally:
            s4.close()
            s6.close()

    def stop(self):
        self.stop_ev.set()
        self.join(5)


def check_exact_in_prometheus(prom, dev, flow):
    """Prometheus' latest samples equal what the flow sent, per direction,
    and in the cells of the joint split it went to (all others 0)."""
    want = {("in", "ipv4"): (flow.in_packets, flow.in_bytes), ("out", "ipv6"): (flow.out_packets, flow.out_bytes)}

    def settled():
        p = prom.query(f'sum by (direction) (ipmonitor_packets_total{{device="{dev}"}})')
        return (p.get(frozenset({("direction", "in")})) == flow.in_packets and
                p.get(frozenset({("direction", "out")})) == flow.out_packets)
    wait_for("Prometheus to hold the exact packet counts", settled, timeout=15)
    got_b = prom.query(f'sum by (direction) (ipmonitor_bytes_total{{device="{dev}"}})')
    assert got_b == {frozenset({("direction", "in")}): flow.in_bytes,
                     frozenset({("direction", "out")}): flow.out_bytes}
    cells = prom.query(f'ipmonitor_packets_total{{device="{dev}"}} > 0')
    assert cells == {frozenset({("device", dev), ("direction", d), ("protocol", "udp"), ("family", f)}): n
                     for (d, f), (n, _) in want.items()}
    bcells = prom.query(f'ipmonitor_bytes_total{{device="{dev}"}} > 0')
    assert bcells == {frozenset({("device", dev), ("direction", d), ("protocol", "udp"), ("family", f)}): b
                      for (d, f), (_, b) in want.items()}


def traffic_through_prometheus(veth, prom):
    dev = veth.a.ifname
    flow = Flow(veth)
    flow.start()
    try:
        # rate() needs two scrapes that saw traffic
        wait_for("rate() > 0 while traffic flows",
                 lambda: (prom.scalar(f'sum(rate(ipmonitor_packets_total{{device="{dev}",direction="in"}}[5s]))') or 0) > 0,
                 timeout=15)
        rate_out = prom.scalar(f'sum(rate(ipmonitor_bytes_total{{device="{dev}",direction="out"}}[5s]))')
        assert rate_out and rate_out > 0
    finally:
        flow.stop()
    assert flow.in_packets > 0
    check_exact_in_prometheus(prom, dev, flow)
    assert prom.scalar(f'ipmonitor_device_up{{device="{dev}"}}') == 1
    assert prom.scalar(f'ipmonitor_dropped_packets_total{{device="{dev}",stage="kernel"}}') == 0
    assert prom.scalar('ipmonitor_build_info') == 1
    return flow


@needs_prometheus
def test_prometheus_scrapes_exact_counts(veth, workdir, running):
    ex = running(Exporter, veth.a, "-i", veth.a.ifname, "-I", "0.2", f"--web.listen-address=127.0.0.1:{PORT}", "udp")
    line = ex.wait_listening()
    # root may load BPF: the exporter counts in the kernel by default (auto)
    assert line == f"listening on {veth.a.ifname}{engine(veth.a.ifname)}; serving http://127.0.0.1:{PORT}/metrics\n"
    prom = running(Prometheus, veth.a, workdir, {"static_configs": [{"targets": [f"127.0.0.1:{PORT}"]}]})
    traffic_through_prometheus(veth, prom)
    assert [t["health"] for t in prom.targets()] == ["up"]
    # the process metrics are there too, and sane
    assert prom.scalar('process_resident_memory_bytes{job="ipmon"}') > 1e6
    assert prom.scalar('process_open_fds{job="ipmon"}') >= 3
    # promtool judges a scrape; the content type is the text format 0.0.4
    status, headers, body = http_get(veth.a, f"http://127.0.0.1:{PORT}/metrics")
    assert status == 200
    assert headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    r = subprocess.run([PROMTOOL, "check", "metrics"], input=body, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    assert http_get(veth.a, f"http://127.0.0.1:{PORT}/nothing")[0] == 404
    # scrapes share one connection (keep-alive); a POST is refused
    with veth.a.entered():
        conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=5)
        conn.connect()
    try:
        sock = conn.sock
        for _ in range(3):
            conn.request("GET", "/metrics")
            r = conn.getresponse()
            assert r.status == 200 and b"ipmonitor_build_info" in r.read()
            assert conn.sock is sock
        conn.request("POST", "/metrics", body=b"x")
        r = conn.getresponse()
        assert r.status == 405
        r.read()
    finally:
        conn.close()
    assert ex.stop() == 0


def make_cert(workdir):
    key, crt = os.path.join(workdir, "server.key"), os.path.join(workdir, "server.crt")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-keyout", key, "-out", crt, "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
    return key, crt


def bcrypt_hash(password):
    r = subprocess.run(["htpasswd", "-nbBC", "4", "scraper", password], check=True, capture_output=True, text=True)
    return r.stdout.strip().split(":", 1)[1]


@needs_prometheus
def test_prometheus_over_tls_with_basic_auth(veth, workdir, running):
    key, crt = make_cert(workdir)
    web = os.path.join(workdir, "web.yml")
    with open(web, "w") as f:
        # relative paths: taken from the config file's folder, as exporter-toolkit does
        f.write("tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n"
                f"basic_auth_users:\n  scraper: '{bcrypt_hash('s3cret')}'\n")
    ex = running(Exporter, veth.a, "-i", veth.a.ifname, "-I", "0.2", f"--web.listen-address=127.0.0.1:{PORT}",
                 f"--web.config.file={web}", "udp")
    assert "serving https://127.0.0.1:%d/metrics (basic auth)" % PORT in ex.wait_listening()
    url = f"https://127.0.0.1:{PORT}/metrics"
    assert http_get(veth.a, url, cafile=crt)[0] == 401
    status, headers, _ = http_get(veth.a, url, "scraper", "wrong", cafile=crt)
    assert status == 401 and headers.get("WWW-Authenticate", "").startswith("Basic")
    assert http_get(veth.a, url, "nobody", "s3cret", cafile=crt)[0] == 401
    assert http_get(veth.a, url, "scraper", "s3cret", cafile=crt)[0] == 200
    with pytest.raises((OSError, http.client.HTTPException)):   # plain HTTP on the TLS port
        with veth.a.entered():
            urllib.request.urlopen(f"http://127.0.0.1:{PORT}/metrics", timeout=3).read()
    prom = running(Prometheus, veth.a, workdir, {
        "scheme": "https", "tls_config": {"ca_file": crt},
        "basic_auth": {"username": "scraper", "password": "s3cret"},
        "static_configs": [{"targets": [f"127.0.0.1:{PORT}"]}]})
    traffic_through_prometheus(veth, prom)
    assert ex.stop() == 0


def test_textfile_is_always_whole(veth, workdir, running):
    path = os.path.join(workdir, "ipmon.prom")
    ex = running(Exporter, veth.a, "-i", veth.a.ifname, "-I", "0.02", f"--textfile={path}", "udp")
    assert ex.wait_listening() == f"listening on {veth.a.ifname}{engine(veth.a.ifname)}; writing {path} every 0.02 s\n"
    assert os.path.exists(path)   # written before "listening on"
    flow = Flow(veth)
    flow.start()
    reads, last = 0, None
    deadline = time.monotonic() + 1.5
    try:
        while time.monotonic() < deadline:
            with open(path) as f:
                text = f.read()
            reads += 1
            # whole: ends with the last metric's line (no process_*: node_exporter has its own)
            assert text.endswith("} 1\n") and "ipmonitor_build_info{" in text.splitlines()[-1], text[-200:]
            assert "process_" not in text
            m = parse_exposition(text)
            n = value(m, "ipmonitor_packets_total", device=veth.a.ifname, direction="in", protocol="udp", family="ipv4")
            assert n is not None and (last is None or n >= last), (n, last)   # never backwards
            last = n
    finally:
        flow.stop()

    def exact():
        m = parse_exposition(open(path).read())
        return (value(m, "ipmonitor_packets_total", device=veth.a.ifname, direction="in", protocol="udp",
                      family="ipv4") == flow.in_packets and
                value(m, "ipmonitor_bytes_total", device=veth.a.ifname, direction="out", protocol="udp",
                      family="ipv6") == flow.out_bytes)
    try:
        wait_for("the textfile to hold the exact counts", exact, timeout=5)
    except AssertionError:
        raise AssertionError(f"sent in {flow.in_packets} out {flow.out_packets} ({flow.out_bytes} bytes); "
                             f"file: {open(path).read()}; exporter: {ex.lines}")
    assert reads > 20, reads
    if PROMTOOL:
        r = subprocess.run([PROMTOOL, "check", "metrics"], input=open(path).read(), capture_output=True, text=True)
        assert r.returncode == 0, r.stdout + r.stderr
    assert ex.stop() == 0
    assert os.listdir(workdir) == ["ipmon.prom"], ex.lines   # no temporary file left behind


def test_textfile_write_fails_with_the_reason(veth, running):
    r = run_ipmon("exporter", "-i", veth.a.ifname, "--textfile=/nonexistent-dir/x.prom", host=veth.a)
    assert r.returncode == 1
    assert r.stderr.splitlines() == [
        "ipmon: writing /nonexistent-dir/x.prom failed: cannot make a temporary file in its folder: "
        "No such file or directory"]


def test_textfile_on_a_full_disk(veth, workdir, running):
    """The disk fills while the exporter runs: it stops with status 1 and
    the system's reason; the last file written stays whole, no temporary
    file is left."""
    fs = os.path.join(workdir, "fs")
    os.mkdir(fs)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k,mode=0755", "tmpfs", fs], check=True)
    try:
        path = os.path.join(fs, "ipmon.prom")
        ex = running(Exporter, veth.a, "-i", veth.a.ifname, "-I", "0.05", f"--textfile={path}")
        ex.wait_listening()
        subprocess.run(["dd", "if=/dev/zero", f"of={os.path.join(fs, 'filler')}", "bs=4k"],
                       capture_output=True)   # until the disk is full
        rc = ex.proc.wait(timeout=5)
        ex._t.join(5)
        assert rc == 1, ex.lines
        assert ex.lines[-1] == f"ipmon: writing {path} failed: No space left on device\n", ex.lines
        text = open(path).read()
        assert text.endswith("} 1\n") and text.splitlines()[-1].startswith("ipmonitor_build_info{")
        assert sorted(os.listdir(fs)) == ["filler", "ipmon.prom"]
    finally:
        subprocess.run(["umount", "-l", fs], check=False)


def add_second_link(veth, name_a, name_b):
    """Another veth between the pair's namespaces, with its own addresses."""
    subprocess.run(["ip", "link", "add", name_a, "netns", veth.a.ns, "address", "02:78:00:00:00:01", "type", "veth",
                    "peer", "name", name_b, "netns", veth.b.ns, "address", "02:78:00:00:00:02"], check=True)
    for h, ifn, ip, peer, mac in ((veth.a, name_a, "10.78.0.1", "10.78.0.2", "02:78:00:00:00:02"),
                                  (veth.b, name_b, "10.78.0.2", "10.78.0.1", "02:78:00:00:00:01")):
        n = ["ip", "-n", h.ns]
        subprocess.run(n + ["addr", "add", f"{ip}/24", "dev", ifn], check=True)
        subprocess.run(n + ["link", "set", ifn, "up"], check=True)
        subprocess.run(n + ["neigh", "replace", peer, "lladdr", mac, "dev", ifn, "nud", "permanent"], check=True)
    wait_for(f"{name_a} up", lambda: "state UP" in subprocess.run(
        ["ip", "-n", veth.a.ns, "-o", "link", "show", name_a], capture_output=True, text=True).stdout)


def scrape(veth):
    status, _, body = http_get(veth.a, f"http://127.0.0.1:{PORT}/metrics")
    assert status == 200
    return parse_exposition(body)


def test_deleted_adapter_leaves_the_others_counting(veth, running):
    other_a, other_b = f"xa{veth.tag}"[:15], f"xb{veth.tag}"[:15]
    add_second_link(veth, other_a, other_b)
    ex = running(Exporter, veth.a, "-i", veth.a.ifname, "-i", other_a, "-I", "0.05",
                 f"--web.listen-address=127.0.0.1:{PORT}", "udp")
    ex.wait_listening()
    main_dev = veth.a.ifname

    def sent_in(dev):
        m = scrape(veth)
        return value(m, "ipmonitor_packets_total", device=dev, direction="in", protocol="udp", family="ipv4")
    netns.send_udp(veth.b, "10.77.0.1", 5000, [b"x" * 10] * 7)
    netns.send_udp(veth.b, "10.78.0.1", 5000, [b"y" * 10] * 4)
    wait_for("both devices counted", lambda: sent_in(main_dev) == 7 and sent_in(other_a) == 4)
    subprocess.run(["ip", "-n", veth.a.ns, "link", "del", other_a], check=True)
    wait_for("device_up 0 for the deleted adapter",
             lambda: value(scrape(veth), "ipmonitor_device_up", device=other_a) == 0)
    m = scrape(veth)
    assert value(m, "ipmonitor_device_up", device=main_dev) == 1
    # its series stay, with their last values (counters never go backwards)
    assert value(m, "ipmonitor_packets_total", device=other_a, direction="in", protocol="udp", family="ipv4") == 4
    netns.send_udp(veth.b, "10.77.0.1", 5000, [b"z" * 20] * 9)
    wait_for("the other device counting on", lambda: sent_in(main_dev) == 16)
    m = scrape(veth)
    assert value(m, "ipmonitor_bytes_total", device=main_dev, direction="in", protocol="udp",
                 family="ipv4") == 7 * sizes_v4(10) + 9 * sizes_v4(20)
    assert ex.proc.poll() is None
    assert any(other_a in x and "disappeared" in x for x in ex.lines), ex.lines
    # made again under its name: counted again, its series continued
    add_second_link(veth, other_a, other_b)
    wait_for("device_up 1 for the adapter made again",
             lambda: value(scrape(veth), "ipmonitor_device_up", device=other_a) == 1)
    netns.send_udp(veth.b, "10.78.0.1", 5000, [b"y" * 10] * 3)
    wait_for("the series continued", lambda: sent_in(other_a) == 4 + 3)
    assert sent_in(main_dev) == 16
    assert ex.stop() == 0


def test_every_adapter_followed(veth, running):
    """Without -i: the adapters up at the start, then one that appears,
    goes and comes back; the others' counters go on exactly."""
    ex = running(Exporter, veth.a, "-I", "0.05", f"--web.listen-address=127.0.0.1:{PORT}", "udp")
    line = ex.wait_listening()
    assert sorted(line.split(";")[0][len("listening on "):].split(", counted")[0].split(", ")) == sorted(["lo", veth.a.ifname]), line
    new_a, new_b = f"na{veth.tag}"[:15], f"nb{veth.tag}"[:15]

    def count(dev):
        return value(scrape(veth), "ipmonitor_packets_total", device=dev, direction="in", protocol="udp",
                     family="ipv4")
    assert value(scrape(veth), "ipmonitor_device_up", device=new_a) is None
    add_second_link(veth, new_a, new_b)
    wait_for("the new adapter's series", lambda: value(scrape(veth), "ipmonitor_device_up", device=new_a) == 1)
    netns.send_udp(veth.b, "10.78.0.1", 5000, [b"n" * 10] * 6)
    netns.send_udp(veth.b, "10.77.0.1", 5000, [b"v" * 10] * 5)
    wait_for("both counted", lambda: count(new_a) == 6 and count(veth.a.ifname) == 5)
    subprocess.run(["ip", "-n", veth.a.ns, "link", "del", new_a], check=True)
    wait_for("device_up 0", lambda: value(scrape(veth), "ipmonitor_device_up", device=new_a) == 0)
    netns.send_udp(veth.b, "10.77.0.1", 5000, [b"v" * 10] * 5)
    wait_for("the other goes on", lambda: count(veth.a.ifname) == 10)
    add_second_link(veth, new_a, new_b)
    wait_for("device_up 1 again", lambda: value(scrape(veth), "ipmonitor_device_up", device=new_a) == 1)
    netns.send_udp(veth.b, "10.78.0.1", 5000, [b"n" * 10] * 2)
    wait_for("its series continued", lambda: count(new_a) == 8)
    assert count(veth.a.ifname) == 10
    assert ex.stop() == 0


def test_relinquish_privileges(veth, running):
    ex = running(Exporter, veth.a, "-i", veth.a.ifname, "-I", "0.05", "-Z", "nobody",
                 f"--web.listen-address=127.0.0.1:{PORT}", "udp")
    ex.wait_listening()
    with open(f"/proc/{ex.proc.pid}/status") as f:
        ids = {k: v.split() for k, v in (line.split(":", 1) for line in f) if k in ("Uid", "Gid", "CapEff")}
    nobody = subprocess.run(["id", "-u", "nobody"], capture_output=True, text=True).stdout.strip()
    assert ids["Uid"] == [nobody] * 4
    assert ids["CapEff"] == ["0000000000000000"]
    netns.send_udp(veth.b, "10.77.0.1", 5000, [b"q"] * 5)   # the capture opened as root goes on
    wait_for("counts after -Z", lambda: value(scrape(veth), "ipmonitor_packets_total", device=veth.a.ifname,
                                              direction="in", protocol="udp", family="ipv4") == 5)
    assert ex.stop(signal.SIGINT) == 0   # Ctrl-C ends it as cleanly as SIGTERM


# ---- start-up errors: one line, the documented status, nothing left running ----

def listening_ports(host):
    return subprocess.run(["ip", "netns", "exec", host.ns, "ss", "-Hltn"], capture_output=True, text=True).stdout


def check_one_line(r, status, *needles):
    assert r.returncode == status, (r.returncode, r.stderr)
    lines = r.stderr.splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("ipmon"), lines[0]
    for n in needles:
        assert n in lines[0], lines[0]


def test_port_in_use(veth):
    with veth.a.entered():
        s = socket.socket()
    try:
        s.bind(("127.0.0.1", PORT))
        s.listen(1)
        r = run_ipmon("exporter", "-i", veth.a.ifname, f"--web.listen-address=127.0.0.1:{PORT}", host=veth.a)
        check_one_line(r, 1, f"cannot listen on 127.0.0.1:{PORT}", "Address already in use")
    finally:
        s.close()


@pytest.mark.parametrize("addr, needle", [("19101", "expected [ADDR]:PORT"), (":0", "1 to 65535"),
                                          (":99999", "1 to 65535"), (":http", "1 to 65535"),
                                          ("[::1:19101", "[ ]"), ("::1:19101", "[ADDR]:PORT"),
                                          ("no.such.host.invalid:19101", "no.such.host.invalid")])
def test_bad_listen_address(veth, addr, needle):
    r = run_ipmon("exporter", "-i", veth.a.ifname, f"--web.listen-address={addr}", host=veth.a)
    check_one_line(r, 2, "--web.listen-address", needle)
    assert f":{PORT}" not in listening_ports(veth.a)


@pytest.mark.parametrize("content, status, needle", [
    (None, 1, "No such file or directory"),
    ("tls_server_config: [unclosed\n", 2, "line "),
    ("basic_auth_users:\n  alice: plaintext\n", 2, "not a bcrypt hash"),
    ("basic_auth_user:\n  alice: x\n", 2, "'basic_auth_user' is not supported"),
    ("tls_server_config:\n  cert_file: missing.crt\n  key_file: missing.key\n", 1, "missing.crt"),
    ("tls_server_config:\n  cert_file: web.yml\n", 2, "both cert_file and key_file"),
    ("- a list\n", 2, "mapping"),
])
def test_bad_web_config(veth, workdir, content, status, needle):
    path = os.path.join(workdir, "web.yml")
    if content is not None:
        with open(path, "w") as f:
            f.write(content)
    r = run_ipmon("exporter", "-i", veth.a.ifname, f"--web.config.file={path}",
                  f"--web.listen-address=127.0.0.1:{PORT}", host=veth.a)
    check_one_line(r, status, "--web.config.file", needle)
    assert f":{PORT}" not in listening_ports(veth.a)


def test_tls_key_not_matching(veth, workdir):
    key, crt = make_cert(workdir)
    with open(key, "w") as f:
        f.write("-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n")
    path = os.path.join(workdir, "web.yml")
    with open(path, "w") as f:
        f.write(f"tls_server_config:\n  cert_file: {crt}\n  key_file: {key}\n")
    r = run_ipmon("exporter", "-i", veth.a.ifname, f"--web.config.file={path}",
                  f"--web.listen-address=127.0.0.1:{PORT}", host=veth.a)
    check_one_line(r, 1, "cannot start HTTPS", "cert_file and key_file")
    assert f":{PORT}" not in listening_ports(veth.a)


def test_unknown_adapter(veth):
    r = run_ipmon("exporter", "-i", "nosuchdev0", f"--web.listen-address=127.0.0.1:{PORT}", host=veth.a)
    check_one_line(r, 1, "no adapter named 'nosuchdev0'")
    assert f":{PORT}" not in listening_ports(veth.a)


def test_filter_that_does_not_compile(veth):
    r = run_ipmon("exporter", "-i", veth.a.ifname, f"--web.listen-address=127.0.0.1:{PORT}", "udp", "port", "((",
                  host=veth.a)
    check_one_line(r, 2)
    assert f":{PORT}" not in listening_ports(veth.a)


@pytest.mark.parametrize("args, needle", [(["--web.telemetry-path=metrics"], "must start with /"),
                                          (["--interval=0"], "--interval"),
                                          (["--textfile=x.prom", "--web.config.file=w.yml"], "--textfile"),
                                          (["--bogus"], "--bogus")])
def test_bad_options(args, needle):
    r = run_ipmon("exporter", *args)
    check_one_line(r, 2, needle, "--help")


# ---- contrib/: the service, the alerts, the dashboard, judged by the tools that read them ----

CONTRIB = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "contrib")

ALERT_TESTS = """
rule_files: [{rules}]
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - series: 'ipmonitor_dropped_packets_total{{instance="h:19101",job="ipmon",device="eth0",stage="kernel"}}'
        values: '0x10 5+5x20'
      - series: 'ipmonitor_dropped_packets_total{{instance="h:19101",job="ipmon",device="eth1",stage="kernel"}}'
        values: '0x30'
      - series: 'ipmonitor_device_up{{instance="h:19101",job="ipmon",device="veth9"}}'
        values: '1x5 0x20'
    alert_rule_test:
      - eval_time: 9m
        alertname: IpmonitorPacketsDropped
        exp_alerts: []
      - eval_time: 15m
        alertname: IpmonitorPacketsDropped
        exp_alerts:
          - exp_labels: {{severity: warning, instance: "h:19101", device: eth0, stage: kernel}}
            exp_annotations:
              summary: "ipmon on h:19101 drops packets on eth0 (kernel)"
              description: "25 packets dropped at stage kernel in the last 5 minutes."
      - eval_time: 20m
        alertname: IpmonitorDeviceGone
        exp_alerts:
          - exp_labels: {{severity: info, instance: "h:19101", job: ipmon, device: veth9}}
            exp_annotations:
              summary: "veth9 on h:19101 has disappeared"
              description: "ipmon exporter no longer counts veth9; the other devices go on."
"""


@pytest.mark.skipif(not PROMTOOL, reason="promtool (Debian's prometheus) is not installed")
def test_alert_rules(workdir):
    rules = os.path.join(CONTRIB, "prometheus", "alerts.yml")
    r = subprocess.run([PROMTOOL, "check", "rules", rules], capture_output=True, text=True)
    assert r.returncode == 0 and "SUCCESS" in r.stdout, r.stdout + r.stderr
    # the drop alert fires on drops (eth0), not without (eth1)
    unit = os.path.join(workdir, "alerts_test.yml")
    with open(unit, "w") as f:
        f.write(ALERT_TESTS.format(rules=json.dumps(os.path.abspath(rules))))
    r = subprocess.run([PROMTOOL, "test", "rules", unit], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_dashboard_and_alerts_name_only_served_metrics(veth, workdir, running):
    import re
    path = os.path.join(workdir, "m.prom")
    ex = running(Exporter, veth.a, "-i", veth.a.ifname, f"--textfile={path}")
    ex.wait_listening()
    served = {line.split()[2] for line in open(path) if line.startswith("# TYPE")}
    assert ex.stop() == 0
    with open(os.path.join(CONTRIB, "grafana", "ipmonitor.json")) as f:
        dash = json.load(f)        # valid JSON
    exprs = [t["expr"] for p in dash["panels"] for t in p["targets"]]
    assert len(exprs) >= 6
    used = set(re.findall(r"\bipmonitor_\w+", " ".join(exprs)))
    assert {"ipmonitor_packets_total", "ipmonitor_bytes_total", "ipmonitor_dropped_packets_total"} <= used
    assert used <= served, used - served
    # rates by device, direction, protocol
    assert any("by (instance, device, direction)" in e for e in exprs)
    assert any("by (protocol)" in e for e in exprs)
    rules = open(os.path.join(CONTRIB, "prometheus", "alerts.yml")).read()
    assert set(re.findall(r"\bipmonitor_\w+", rules)) <= served


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="systemd-analyze is not installed")
def test_systemd_unit(workdir):
    with open(os.path.join(CONTRIB, "systemd", "ipmon-exporter.service")) as f:
        unit = f.read()
    assert "ExecStart=/usr/local/bin/ipmon exporter" in unit
    assert "AmbientCapabilities=CAP_NET_RAW CAP_NET_ADMIN" in unit and "Restart=on-failure" in unit
    path = os.path.join(workdir, "ipmon-exporter.service")
    with open(path, "w") as f:
        f.write(unit.replace("/usr/local/bin/ipmon", os.path.abspath(IPMON)))
    r = subprocess.run(["systemd-analyze", "verify", "--man=no", path], capture_output=True, text=True)
    assert r.returncode == 0 and r.stderr.strip() == "", r.stderr


def test_unknown_user(veth):
    r = run_ipmon("exporter", "-i", veth.a.ifname, "-Z", "no-such-user-x", f"--web.listen-address=127.0.0.1:{PORT}",
                  host=veth.a)
    check_one_line(r, 1, "-Z no-such-user-x: no such user")
    assert f":{PORT}" not in listening_ports(veth.a)


@pytest.mark.parametrize("without_bpf", [False, True])
def test_device_info_says_which_engine_counts(veth, running, without_bpf):
    """ipmonitor_device_info{engine}: the kernel's where the exporter may load
    BPF; without CAP_BPF (capsh drops it, and CAP_SYS_ADMIN) the ring's,
    which an operator can alert on."""
    posix = os.environ.get("IPM_PLATFORM") == "posix"
    if without_bpf and posix:
        pytest.skip("no kernel engine on IPM_PLATFORM=posix: nothing to drop")
    wrap = None
    if without_bpf:
        wrap = lambda argv: ["capsh", "--drop=cap_bpf,cap_sys_admin", "--", "-c", " ".join(argv)]
    ex = running(Exporter, veth.a, "-i", veth.a.ifname, "-I", "0.05", f"--web.listen-address=127.0.0.1:{PORT}",
                 "udp", wrap=wrap)
    ex.wait_listening()
    want = "ring" if without_bpf or posix else "kernel"
    deadline = time.monotonic() + 10
    while True:  # the first interval's event names the engine
        got = {k: v for k, v in scrape(veth).items() if k[0] == "ipmonitor_device_info"}
        if got or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert got == {("ipmonitor_device_info", frozenset({("device", veth.a.ifname), ("engine", want)})): 1}, got
