"""tcpdump's everyday flags in `ipmon capture`, judged by tcpdump itself: the
same file (written here by scapy) is read by `tcpdump -r` and by
`ipmon capture -r`, and what tcpdump has the flag for must agree: the time
column to the character (-t ... -ttttt, --time-stamp-precision), the -v
facts (IP and TCP header fields, checksum verdicts, TCP options), the -A
bytes, -q's lengths, relative and absolute (-S) sequence numbers."""
import json
import os
import re
import subprocess

import pytest

from conftest import IPMON, run_ipmon

scapy = pytest.importorskip("scapy.all")
from scapy.all import (ICMP, IP, TCP, UDP, Ether, IPv6, Raw, wrpcap, wrpcapng)  # noqa: E402

M1, M2 = "02:00:00:00:00:01", "02:00:00:00:00:02"
T0 = 1700000000.123456


def tcpdump(*args, env=None):
    r = subprocess.run(["tcpdump", "-nn", *args], capture_output=True, text=True, env=env, timeout=30)
    assert r.returncode == 0, r.stderr
    return r.stdout.splitlines()


def ipmon_lines(*args, env=None):
    r = subprocess.run([IPMON, "capture", *args], capture_output=True, text=True, env=env, timeout=30)
    assert r.returncode == 0, r.stderr
    return r.stdout.splitlines()


@pytest.fixture
def timed(tmp_path):
    """Packets at irregular times: sub-second, a microsecond, an hour, more
    than a day (tcpdump's deltas wrap at 24 hours), and one earlier than the
    one before (a negative delta), with nanosecond stamps."""
    f = tmp_path / "timed.pcap"
    pkts = []
    for i, dt in enumerate([0, 0.5, 1.000001, 3700.25, 90000.9, 90000.1]):
        p = Ether(src=M1, dst=M2) / IP(src="10.0.0.1", dst="10.0.0.2") / UDP(sport=1000 + i, dport=53) / Raw(b"q")
        p.time = T0 + dt
        pkts.append(p)
    wrpcap(str(f), pkts, nano=True)
    return f


def time_column(tcpdump_line):
    """tcpdump's time column with its trailing blank (all before "IP ")."""
    return tcpdump_line[:tcpdump_line.index("IP ")]


@pytest.mark.parametrize("flags", [[], ["-t"], ["-tt"], ["-ttt"], ["-tttt"], ["-ttttt"],
                                   ["-tt", "--time-stamp-precision=nano"],
                                   ["-ttt", "--time-stamp-precision=nano"],
                                   ["-ttttt", "--time-stamp-precision=nano"],
                                   ["-tttt", "--time-stamp-precision=nano"],
                                   ["--time-stamp-precision=micro"]])
@pytest.mark.parametrize("tz", ["UTC", "Asia/Kolkata", "America/St_Johns"])
def test_time_column_is_tcpdumps(timed, flags, tz):
    env = dict(os.environ, TZ=tz)
    want = tcpdump(*flags, "-r", str(timed), env=env)
    got = ipmon_lines(*flags, "-r", str(timed), env=env)
    assert len(got) == len(want) == 6
    for g, w in zip(got, want):
        col = time_column(w)
        assert g.startswith(col + "- "), (g, w)  # then the direction column
    if flags == ["-t"]:
        assert all(g.startswith("- ") for g in got)


def test_nano_is_an_alias(timed):
    a = ipmon_lines("--nano", "-r", str(timed))
    b = ipmon_lines("--time-stamp-precision=nano", "-r", str(timed))
    assert a == b and re.match(r"\d\d:\d\d:\d\d\.\d{9} ", a[0])


@pytest.mark.parametrize("bad", [["-tttttt"], ["--time-stamp-precision=pico"],
                                 ["--time-stamp-precision"]])
def test_bad_time_flags(timed, bad):
    r = run_ipmon("capture", *bad, "-r", str(timed))
    assert r.returncode == 2
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert r.stdout == ""


def test_json_ts_ns_is_exact(timed):
    lines = ipmon_lines("--json", "-r", str(timed))
    want = [int(x) for x in tcpdump("-tt", "--time-stamp-precision=nano", "-r", str(timed))
            and [l.split()[0].replace(".", "") for l in
                 tcpdump("-tt", "--time-stamp-precision=nano", "-r", str(timed))]]
    got = [json.loads(l)["ts_ns"] for l in lines]
    assert got == want
    assert all(isinstance(g, int) for g in got)


# ---- -v ----

VERBOSE_PACKETS = [
    Ether(src=M1, dst=M2) / IP(src="10.0.0.1", dst="10.0.0.2", ttl=33, id=100, flags="DF", tos=0x10)
    / TCP(sport=1000, dport=80, flags="S", seq=1000,
          options=[("MSS", 1460), ("SAckOK", b""), ("Timestamp", (1, 2)), ("NOP", None), ("WScale", 7)]),
    Ether(src=M1, dst=M2) / IP(src="10.0.0.1", dst="10.0.0.2", ttl=64, id=7, flags="MF") / UDP(sport=5, dport=9) / Raw(b"x" * 20),
    Ether(src=M1, dst=M2) / IP(src="10.0.0.2", dst="10.0.0.1", ttl=3, id=65535, tos=0x03) / ICMP(),
    Ether(src=M1, dst=M2) / IP(src="10.0.0.2", dst="10.0.0.1", ttl=200, id=9, tos=0x2) / TCP(sport=80, dport=1000, flags="A", chksum=0x1234) / Raw(b"bad sum"),
    Ether(src=M1, dst=M2) / IP(src="10.0.0.2", dst="10.0.0.1", ttl=1, id=10, chksum=0x4321) / UDP(sport=7, dport=9),
    Ether(src=M1, dst=M2) / IPv6(src="2001:db8::1", dst="2001:db8::2", fl=0x12345, hlim=17)
    / TCP(sport=1, dport=2, flags="A", options=[("NOP", None), ("NOP", None), ("Timestamp", (5, 6))]) / Raw(b"abc"),
    Ether(src=M1, dst=M2) / IPv6(src="2001:db8::1", dst="2001:db8::2", tc=0xb8, hlim=255) / UDP(sport=3, dport=4),
    Ether(src=M1, dst=M2) / IP(src="10.0.0.1", dst="10.0.0.2") / TCP(sport=3, dport=4, flags="SA",
          options=[("MSS", 536), ("WScale", 14), ("SAck", (100, 200))]),
]

IP_GROUP = re.compile(r"(\((?:tos|class|flowlabel|hlim) [^)]*(?:\([0-9]+\)[^)]*)*\))")


@pytest.mark.parametrize("vflag", ["-v", "-vv"])
def test_verbose_facts_are_tcpdumps(tmp_path, vflag):
    f = tmp_path / "v.pcap"
    wrpcap(str(f), VERBOSE_PACKETS)
    # -S: SACK blocks are shown absolute by ipmon (tcpdump: relative without -S)
    want = "\n".join(tcpdump(vflag, "-S", "-r", str(f)))
    # tcpdump -v may continue a packet on an indented line: one text per packet
    want = re.split(r"\n(?=\d\d:)", want)
    got = ipmon_lines(vflag, "-S", "-r", str(f))
    assert len(got) == len(want) == len(VERBOSE_PACKETS)
    for g, w in zip(got, want):
        # the IP header's group, word for word
        wg = IP_GROUP.search(w).group(1)
        assert wg in g, (g, w)
        # the TCP checksum verdict and the options, word for word
        for pat in (r"cksum 0x[0-9a-f]{4} \((?:correct|incorrect -> 0x[0-9a-f]{4})\)", r"options \[[^]]*\]"):
            m = re.search(pat, w)
            if m:
                assert m.group(0) in g, (pat, g, w)
            else:
                assert not re.search(pat, g), (pat, g)
    # without -v, none of it
    plain = ipmon_lines("-r", str(f))
    assert not any("ttl" in l or "cksum" in l or "options" in l for l in plain)


# ---- -A, -q, -S ----

def test_ascii_is_tcpdumps(tmp_path):
    f = tmp_path / "a.pcap"
    pkts = [Ether(src=M1, dst=M2) / IP(src="10.0.0.1", dst="10.0.0.2") / TCP(sport=1, dport=2, flags="PA") / Raw(b"GET / HTTP/1.1\nHost: x\x00\xff"),
            Ether(src=M1, dst=M2) / IPv6(src="2001:db8::1", dst="2001:db8::2") / UDP(sport=5, dport=6) / Raw(bytes(b for b in range(256) if b != 13))]
    wrpcap(str(f), pkts)
    r = subprocess.run(["tcpdump", "-nn", "-A", "-r", str(f)], capture_output=True, timeout=30)
    # tcpdump prints a 0x0a byte as a line break, a tab as is (and drops
    # 0x0d, not sent here); ipmon prints a dot for each: one line a packet.
    blocks = re.split(rb"\n(?=\d\d:\d\d:\d\d\.\d{6} IP)", r.stdout.rstrip(b"\n"))
    want = [b.split(b"\n", 1)[1].replace(b"\n", b".").replace(b"\t", b".") for b in blocks]
    got = subprocess.run([IPMON, "capture", "-A", "-r", str(f)], capture_output=True, timeout=30).stdout.splitlines()
    assert got[1::2] == want
    assert got[1].startswith(b"E") and b"GET / HTTP/1.1.Host: x.." in got[1]


def test_quiet_lengths_are_tcpdumps(tmp_path):
    f = tmp_path / "q.pcap"
    pkts = [Ether(src=M1, dst=M2) / IP(src="10.0.0.1", dst="10.0.0.2") / TCP(sport=1, dport=2, flags="PA") / Raw(b"x" * 11),
            Ether(src=M1, dst=M2) / IP(src="10.0.0.1", dst="10.0.0.2") / UDP(sport=3, dport=4000) / Raw(b"y" * 5),
            Ether(src=M1, dst=M2) / IP(src="10.0.0.1", dst="10.0.0.2") / ICMP()]
    wrpcap(str(f), pkts)
    want = tcpdump("-q", "-r", str(f))
    got = ipmon_lines("-q", "-r", str(f))
    assert [re.search(r"(?:tcp |UDP, length )(\d+)", w).group(1) for w in want[:2]] == ["11", "5"]
    assert got[0].endswith("TCP 10.0.0.1:1 > 10.0.0.2:2 payload 11")
    assert got[1].endswith("UDP 10.0.0.1:3 > 10.0.0.2:4000 payload 5")
    assert got[2].endswith("ICMP 10.0.0.1 > 10.0.0.2")


def conversation():
    """Two connections interleaved, each with a handshake, data both ways;
    one more that starts mid-stream (no SYN)."""
    a = ("10.0.0.1", "10.0.0.2", 40000, 80, 1000000, 5000000)
    b = ("10.0.0.1", "10.0.0.2", 40001, 80, 4294967000, 77)  # wraps past 2^32
    c = ("10.0.0.3", "10.0.0.1", 22, 50000, 123456789, 987654321)
    pkts = []

    def seg(conn, fwd, flags, seq, ack, data=b""):
        s, d, sp, dp = (conn[0], conn[1], conn[2], conn[3]) if fwd else (conn[1], conn[0], conn[3], conn[2])
        return Ether(src=M1, dst=M2) / IP(src=s, dst=d) / TCP(sport=sp, dport=dp, flags=flags, seq=seq % 2**32, ack=ack % 2**32) / Raw(data)

    for conn in (a, b):
        ci, si = conn[4], conn[5]
        pkts.append(seg(conn, True, "S", ci, 0))
        pkts.append(seg(conn, False, "SA", si, ci + 1))
    for conn in (a, b):
        ci, si = conn[4], conn[5]
        pkts.append(seg(conn, True, "A", ci + 1, si + 1))
        pkts.append(seg(conn, True, "PA", ci + 1, si + 1, b"hello"))
        pkts.append(seg(conn, False, "PA", si + 1, ci + 6, b"world!!"))
        pkts.append(seg(conn, True, "FA", ci + 6, si + 8))
    ci, si = c[4], c[5]
    pkts.append(seg(c, True, "PA", ci, si, b"mid"))
    pkts.append(seg(c, False, "A", si, ci + 3))
    pkts.append(seg(c, True, "PA", ci + 3, si, b"more"))
    return pkts


def seq_ack(line):
    m = re.search(r"seq (\d+)", line)
    a = re.search(r"ack (\d+)", line)
    return int(m.group(1)) if m else None, int(a.group(1)) if a else None


@pytest.mark.parametrize("absolute", [False, True])
def test_sequence_numbers_are_tcpdumps(tmp_path, absolute):
    f = tmp_path / "conv.pcap"
    wrpcap(str(f), conversation())
    flag = ["-S"] if absolute else []
    want = [seq_ack(l) for l in tcpdump(*flag, "-r", str(f))]
    got = [seq_ack(l) for l in ipmon_lines(*flag, "-r", str(f))]
    assert len(got) == len(want) == 15
    # tcpdump leaves out "seq" on a bare ACK; ipmon always shows it
    assert [(g[0] if w[0] is not None else None, g[1]) for g, w in zip(got, want)] == want
    if not absolute:
        assert (1, 1) in got and (6, 8) in got  # relative numbers really shown
    else:
        assert (1000001, 5000001) in got


@pytest.mark.parametrize("flag", ["-A", "-q", "-S", "-v"])
def test_json_is_unchanged_by_text_flags(tmp_path, flag):
    f = tmp_path / "j.pcap"
    wrpcap(str(f), VERBOSE_PACKETS[:1])
    assert ipmon_lines("--json", flag, "-r", str(f)) == ipmon_lines("--json", "-S", "-r", str(f))


# ---- -D, -i N, -F, -I, -Z, -p (live, in namespaces) ----

import netns  # noqa: E402


def ping(host, target, n=2):
    host.exec("ping", "-c", str(n), "-i", "0.2", target, stdout=subprocess.DEVNULL)


def test_D_is_tcpdumps_numbering(veth):
    got = veth.a.exec(IPMON, "capture", "-D", capture_output=True, text=True).stdout.splitlines()
    want = veth.a.exec("tcpdump", "-D", capture_output=True, text=True).stdout.splitlines()
    assert got == want
    assert f"1.{veth.a.ifname} [Up, Running, Connected]" in got or any(
        l.endswith(f".{veth.a.ifname} [Up, Running, Connected]") for l in got)
    # ipmon list's IDX and JSON number are the same numbers
    table = veth.a.exec(IPMON, "list", capture_output=True, text=True).stdout.splitlines()[1:]
    assert [f"{r.split()[0]}.{r.split()[1]}" for r in table] == [l.split(" ")[0] for l in got]
    listed = json.loads(veth.a.exec(IPMON, "list", "--json", capture_output=True, text=True).stdout)
    assert [f"{a['number']}.{a['name']}" for a in listed] == [l.split(" ")[0] for l in got]


def number_of(host, name):
    for l in host.exec(IPMON, "capture", "-D", capture_output=True, text=True).stdout.splitlines():
        num, rest = l.split(".", 1)
        if rest.split(" ")[0] == name:
            return num
    raise AssertionError(f"{name} not in -D")


def test_i_takes_the_D_number(veth, start_ipmon):
    num = number_of(veth.a, veth.a.ifname)
    ip = start_ipmon(veth.a, "capture", "-i", num, "-c", "2", "-l", "icmp")
    assert veth.a.ifname in ip.wait_listening()
    ping(veth.b, veth.a.ip4, 1)
    rc, out, _ = ip.finish()
    assert rc == 0 and len(out.splitlines()) == 2
    assert all(f" {veth.a.ifname} ICMP " in l for l in out.splitlines())


@pytest.mark.parametrize("bad", ["0", "999", "00"])
def test_i_number_out_of_range(veth, bad):
    r = run_ipmon("capture", "-i", bad, "-c", "1", host=veth.a)
    assert r.returncode == 1 and len(r.stderr.splitlines()) == 1, r.stderr
    assert "capture -D" in r.stderr


def test_F_reads_the_filter_as_tcpdump(tmp_path):
    f = tmp_path / "mix.pcap"
    pkts = [Ether(src=M1, dst=M2) / IP(src="10.0.0.1", dst="10.0.0.2") / UDP(sport=1, dport=p) / Raw(b"x")
            for p in (53, 54, 53, 80)]
    pkts.append(Ether(src=M1, dst=M2) / IP(src="10.0.0.1", dst="10.0.0.2") / TCP(sport=1, dport=53))
    wrpcap(str(f), pkts)
    flt = tmp_path / "filter"
    flt.write_text("udp   # only UDP\nand port 53\n")
    want = tcpdump("-F", str(flt), "-r", str(f))
    got = ipmon_lines("-F", str(flt), "-r", str(f))
    assert len(got) == len(want) == 2
    assert all("UDP 10.0.0.1:1 > 10.0.0.2:53" in g for g in got)


@pytest.mark.parametrize("args,rc,words", [
    (["-F", "{flt}", "-r", "{pcap}", "tcp"], 2, "one too many"),
    (["-F", "/nonexistent/filter", "-r", "{pcap}"], 1, "No such file"),
    (["-F", "{bad}", "-r", "{pcap}"], 2, "filter"),
])
def test_F_errors(tmp_path, args, rc, words):
    pcap = tmp_path / "one.pcap"
    wrpcap(str(pcap), [Ether() / IP() / UDP()])
    (tmp_path / "flt").write_text("udp\n")
    (tmp_path / "bad").write_text("udp and and\n")
    args = [a.format(flt=tmp_path / "flt", pcap=pcap, bad=tmp_path / "bad") for a in args]
    r = run_ipmon("capture", *args)
    assert r.returncode == rc, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and words in r.stderr, r.stderr


def test_I_is_refused_on_veth(veth):
    r = run_ipmon("capture", "-i", veth.a.ifname, "-I", "-c", "1", host=veth.a)
    assert r.returncode == 1
    assert r.stderr.strip().splitlines() == [
        f"ipmon: {veth.a.ifname} cannot capture in monitor mode (-I): it is not a Wi-Fi adapter that supports it"]
    r = run_ipmon("capture", "-I", "-r", "/dev/null")
    assert r.returncode == 2 and len(r.stderr.splitlines()) == 1


def proc_ids(pid):
    """(uids, gids, groups) of a process, from /proc."""
    # ip netns exec runs ipmon as its child: find the ipmon process itself
    status = open(f"/proc/{pid}/status").read()
    get = lambda k: re.search(rf"^{k}:\s*(.*)$", status, re.M).group(1).split()  # noqa: E731
    return get("Uid"), get("Gid"), get("Groups")


def ipmon_pid(wrapper_pid):
    """`ip netns exec` execs the command: the pid is ipmon's, or its child's."""
    exe = os.readlink(f"/proc/{wrapper_pid}/exe")
    if os.path.samefile(exe, IPMON):
        return wrapper_pid
    kids = open(f"/proc/{wrapper_pid}/task/{wrapper_pid}/children").read().split()
    return int(kids[0])


@pytest.fixture
def open_dir():
    """A directory anyone may write in (pytest's tmp_path is root's alone)."""
    import shutil
    import tempfile
    d = tempfile.mkdtemp(prefix="ipmon-z-")
    os.chmod(d, 0o777)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def test_Z_drops_to_the_user(veth, start_ipmon, open_dir):
    import pwd
    nobody = pwd.getpwnam("nobody")
    target = os.path.join(open_dir, "z.pcap")
    ip = start_ipmon(veth.a, "capture", "-i", veth.a.ifname, "-Z", "nobody", "-c", "4", "-w", str(target), "--print", "-l", "icmp")
    ip.wait_listening()
    uids, gids, groups = proc_ids(ipmon_pid(ip.proc.pid))
    assert uids == [str(nobody.pw_uid)] * 4, uids
    assert gids == [str(nobody.pw_gid)] * 4, gids
    assert "0" not in groups
    ping(veth.b, veth.a.ip4, 2)
    rc, out, err = ip.finish()
    assert rc == 0, err
    assert len(out.splitlines()) == 4
    # the file was created after the drop, as tcpdump does: owned by nobody
    assert os.stat(target).st_uid == nobody.pw_uid
    assert len(tcpdump("-r", str(target))) == 4


def test_Z_drops_before_creating_the_file(veth, tmp_path):
    # tmp_path is root's: nobody cannot create a file there, which shows the
    # -w file is created after the change of user (as tcpdump)
    r = run_ipmon("capture", "-i", veth.a.ifname, "-Z", "nobody", "-c", "1", "-w", str(tmp_path / "x.pcap"), host=veth.a)
    assert r.returncode == 1 and "Permission denied" in r.stderr


def test_Z_unknown_user(veth):
    r = run_ipmon("capture", "-i", veth.a.ifname, "-Z", "no-such-user-here", "-c", "1", host=veth.a)
    assert r.returncode == 1
    assert r.stderr.strip().splitlines() == ["ipmon: -Z no-such-user-here: no such user"]


def promiscuous(host):
    flags = host.exec("cat", f"/sys/class/net/{host.ifname}/flags", capture_output=True, text=True).stdout
    return bool(int(flags, 16) & 0x100)


@pytest.mark.parametrize("args,want", [([], True), (["-p"], False), (["--promisc"], True),
                                       (["--no-promiscuous-mode"], False)])
def test_promiscuous_by_default_as_tcpdump(veth, start_ipmon, args, want):
    assert not promiscuous(veth.a)
    ip = start_ipmon(veth.a, "capture", "-i", veth.a.ifname, *args, "-c", "1", "-l", "icmp")
    ip.wait_listening()
    assert promiscuous(veth.a) == want
    ping(veth.b, veth.a.ip4, 1)
    rc, out, _ = ip.finish()
    assert rc == 0 and out.count("\n") == 1
    assert not promiscuous(veth.a)


# ---- -j is tcpdump's, JSON is --json; flags ipmon does not have; hints ----

def one_line_usage_error(r, *words):
    assert r.returncode == 2, (r.returncode, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    for w in words:
        assert w in lines[0], lines[0]
    assert r.stdout == ""


@pytest.mark.parametrize("args,words", [
    (["-j"], ["-j needs a time stamp type", "--json"]),
    (["-j", "nope"], ["-j nope: not a time stamp type", "-J", "--json"]),
    (["-j", "-r", "x.pcap"], ["-j -r: not a time stamp type", "--json"]),   # never JSON, never a filter
    (["-y", "BOGUS"], ["-y BOGUS: not a link type name", "-L"]),
    (["-y", "EN10MB", "-r", "x.pcap"], ["-y applies to adapters"]),
    (["--time-stamp-type=nope"], ["-j nope"]),
])
def test_j_y_bad_values(args, words):
    one_line_usage_error(run_ipmon("capture", *args), *words)


@pytest.mark.parametrize("flag", ["-L", "-J"])
@pytest.mark.parametrize("adapter", ["lo", "any", "veth"])
def test_list_types_as_tcpdump(veth, flag, adapter):
    """-L / -J print what tcpdump -L / -J print for the same adapter (tcpdump
    writes the list to standard error, ipmon to standard output, where a
    pipe can take it)."""
    name = veth.a.ifname if adapter == "veth" else adapter
    mine = veth.a.exec(IPMON, "capture", flag, "-i", name, capture_output=True, text=True)
    theirs = veth.a.exec("tcpdump", flag, "-i", name, capture_output=True, text=True)
    assert mine.returncode == 0, mine.stderr
    assert mine.stdout == theirs.stderr and mine.stdout.startswith(
        ("Data link types for " if flag == "-L" else "Time stamp types for ") + name)


def test_y_chooses_the_link_type_as_tcpdump(veth, start_ipmon):
    """-y LINUX_SLL on any: cooked v1 (not ipmon's default v2), announced as
    tcpdump announces it; a type the adapter lacks: one line, status 1."""
    ip = start_ipmon(veth.a, "capture", "-y", "LINUX_SLL", "-i", "any", "-c", "1", "--json", "udp port 5000")
    ip.wait_listening()
    netns.send_udp(veth.b, veth.a.ip4, 5000, [b"x"])
    rc, out, err = ip.finish()
    assert rc == 0, err
    assert "link-type LINUX_SLL (Linux cooked v1)" in err
    assert json.loads(out.splitlines()[0])["adapter"] == "any"  # v1 has no interface index
    r = veth.a.exec(IPMON, "capture", "-y", "IEEE802_11", "-i", veth.a.ifname, "-c", "1",
                    capture_output=True, text=True, check=False)
    assert r.returncode == 1
    assert r.stderr.strip().splitlines() == [
        f'ipmon: adapter "{veth.a.ifname}" cannot capture as link type IEEE802_11 (-y); '
        "it offers: EN10MB (Ethernet), DOCSIS (DOCSIS)"]
    r = veth.a.exec(IPMON, "capture", "-j", "adapter", "-i", veth.a.ifname, "-c", "1",
                    capture_output=True, text=True, check=False)
    assert r.returncode == 1
    assert r.stderr.strip() == (f'ipmon: adapter "{veth.a.ifname}" has no time stamp type adapter (-j); '
                                "it offers: host (Host)")


def test_json_is_the_long_option(timed):
    lines = ipmon_lines("--json", "-r", str(timed))
    assert len(lines) == 6 and all(json.loads(l)["proto"] == "UDP" for l in lines)


@pytest.mark.parametrize("flag", list("#bdEfHKMNOTVz"))
def test_tcpdump_flags_ipmon_lacks_say_so(flag):
    one_line_usage_error(run_ipmon("capture", f"-{flag}", "-r", "/dev/null"),
                         f"-{flag} is a tcpdump option ipmon does not have", "ipmon(1)")


@pytest.mark.parametrize("args,flag", [
    (["-i", "lo", "-c", "5"], "-c"),
    (["-w", "x.pcap"], "-w"),
    (["-i", "lo", "-nn", "icmp"], "-n"),
    (["-t", "3", "-v"], "-v"),
    (["-I", "1", "-r", "f.pcap"], "-r"),
])
def test_bare_ipmon_points_to_capture(args, flag):
    r = run_ipmon(*args)
    one_line_usage_error(r, f"{flag} belongs to 'ipmon capture': ipmon capture " + " ".join(args))


# ---- -C / -W / -G rotation ----

@pytest.fixture(scope="module")
def big_pcap(tmp_path_factory):
    """3500 frames of 1000 bytes: 3.56 MB as classic pcap."""
    f = tmp_path_factory.mktemp("rot") / "big.pcap"
    wrpcap(str(f), [Ether(src=M1, dst=M2) / IP(src="10.0.0.1", dst="10.0.0.2", id=i % 65536) / UDP(sport=1, dport=2) / Raw(b"x" * 958)
                    for i in range(3500)])
    return f


def packet_seconds(path):
    """The whole seconds of each packet's time stamp in a capture file, as tcpdump reads it."""
    r = subprocess.run(["tcpdump", "-tt", "-r", str(path)], capture_output=True, text=True)
    return [int(line.split(".")[0]) for line in r.stdout.splitlines()]


def files_and_counts(d):
    return {name: len(packet_seconds(os.path.join(d, name))) for name in sorted(os.listdir(d))}


@pytest.mark.parametrize("args", [["-C", "1"], ["-C", "1", "-W", "3"], ["-C", "1", "-W", "2"],
                                  ["-C", "2", "-W", "10"], ["-C", "1", "-W", "1"]])
def test_C_W_name_and_fill_files_as_tcpdump(big_pcap, open_dir, args):
    td, ip = os.path.join(open_dir, "tcpdump"), os.path.join(open_dir, "ipmon")
    os.mkdir(td)
    os.mkdir(ip)
    subprocess.run(["tcpdump", "-Z", "root", "-r", str(big_pcap), "-w", os.path.join(td, "out"), *args],
                   check=True, capture_output=True, timeout=60)
    r = run_ipmon("capture", "-r", str(big_pcap), "-w", os.path.join(ip, "out"), *args)
    assert r.returncode == 0, r.stderr
    want, got = files_and_counts(td), files_and_counts(ip)
    assert got == want
    assert len(got) >= 1 and sum(got.values()) <= 3500


def test_C_with_pcapng(big_pcap, tmp_path):
    r = run_ipmon("capture", "-r", str(big_pcap), "-w", str(tmp_path / "out.pcapng"), "-C", "1")
    assert r.returncode == 0, r.stderr
    got = files_and_counts(tmp_path)
    assert set(got) == {"out.pcapng", "out.pcapng1", "out.pcapng2", "out.pcapng3"}
    assert sum(got.values()) == 3500


def test_G_W_makes_count_files_then_stops(veth, start_ipmon, tmp_path):
    pattern = str(tmp_path / "g-%s.pcap")
    ip = start_ipmon(veth.a, "capture", "-i", veth.a.ifname, "-G", "1", "-W", "2", "-w", pattern, "icmp")
    ip.wait_listening()
    pinger = veth.b.popen("ping", "-i", "0.1", veth.a.ip4, stdout=subprocess.DEVNULL)
    try:
        rc, _, err = ip.finish(timeout=15)
    finally:
        pinger.kill()
        pinger.wait()
    assert rc == 0, err
    assert "Maximum file limit reached: 2" in err
    names = sorted(os.listdir(tmp_path))
    assert len(names) == 2 and all(re.fullmatch(r"g-\d+\.pcap", n) for n in names), names
    t0, t1 = (int(n[2:-5]) for n in names)
    assert t1 - t0 >= 1
    # The first file may be empty: like tcpdump, rotation compares whole
    # seconds, so a file begun late in its second ends at the first packet
    # after the tick. What it holds belongs to its second; the second file
    # begins with the packet that rotated it.
    times = {name: packet_seconds(tmp_path / name) for name in names}
    # (time(2) is the kernel's coarse clock: it may lag a packet's time stamp by a tick)
    assert all(t0 <= t <= t0 + 1 for t in times[names[0]]), times
    assert len(times[names[1]]) > 0, times


@pytest.mark.parametrize("args,words", [
    (["-G", "1"], "-G rotates the -w file: add -w FILE"),
    (["-C", "1"], "-C rotates the -w file: add -w FILE"),
    (["-W", "3"], "-W rotates the -w file: add -w FILE"),
    (["-W", "3", "-w", "x.pcap"], "-W counts the files of -C or -G"),
    (["-C", "1", "-w", "-"], "standard output (-w -) cannot be rotated"),
    (["-C", "0", "-w", "x"], "-C: '0' is not a whole number"),
    (["-G", "soon", "-w", "x"], "-G: 'soon' is not a whole number"),
    (["-W", "-1", "-C", "1", "-w", "x"], "-W: '-1' is not a whole number"),
])
def test_rotation_usage_errors(args, words):
    one_line_usage_error(run_ipmon("capture", "-r", "/dev/null", *args), words)


def test_G_C_W_numbers_the_ring_and_keeps_going(veth, start_ipmon, tmp_path):
    # tcpdump: with -C, -W is the ring's size and -G does not stop the capture
    pattern = str(tmp_path / "h-%s.pcap")
    ip = start_ipmon(veth.a, "capture", "-i", veth.a.ifname, "-G", "1", "-C", "1", "-W", "3", "-c", "25", "-w", pattern, "icmp")
    ip.wait_listening()
    pinger = veth.b.popen("ping", "-i", "0.1", veth.a.ip4, stdout=subprocess.DEVNULL)
    try:
        rc, _, err = ip.finish(timeout=15)
    finally:
        pinger.kill()
        pinger.wait()
    assert rc == 0, err
    names = sorted(os.listdir(tmp_path))
    assert len(names) >= 2 and all(re.fullmatch(r"h-\d+\.pcap0", n) for n in names), names
    assert sum(files_and_counts(tmp_path).values()) == 25


def test_json_file_name_not_utf8(tmp_path):
    name = os.path.join(os.fsencode(tmp_path), b"caf\xe9-\xff.pcap")
    wrpcap(name.decode("utf-8", "surrogateescape"), [Ether() / IP() / UDP()])
    r = subprocess.run([os.fsencode(IPMON), b"capture", b"--json", b"-r", name], capture_output=True, timeout=30)
    assert r.returncode == 0, r.stderr
    line = r.stdout.decode("utf-8")  # valid UTF-8, or this raises
    obj = json.loads(line)
    assert obj["adapter"].endswith("caf\ufffd-\ufffd.pcap")
    assert isinstance(obj["ts_ns"], int)


# ---- -s with -r: what is shown and written is cut ----
# tcpdump 4.99 ignores -s when it reads a file (tcpdump -s 100 -r F -w out
# writes the packets whole, -x dumps them whole): the judge of the cutting is
# editcap -s N, Wireshark's tool for exactly that, and tcpdump reading
# editcap's file. The announcement is tcpdump's: the file's snapshot length,
# with -s too.

def snap_packets():
    """Frames of 42 to 1042 bytes: some shorter than the cut, some longer."""
    return [Ether(src=M1, dst=M2) / IP(src="10.0.0.1", dst="10.0.0.2", id=i) / UDP(sport=1, dport=2) / Raw((bytes(range(256)) * 4)[:n])
            for i, n in enumerate([0, 10, 27, 58, 200, 1000])]


def frames(path):
    """The (caplen, wire length) of each frame and tshark's hex dumps of them."""
    def tshark(*args):
        r = subprocess.run(["tshark", "-r", str(path), *args], capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        return r.stdout
    lengths = [tuple(l.split("\t")) for l in tshark("-T", "fields", "-e", "frame.cap_len", "-e", "frame.len").splitlines()]
    return lengths, tshark("-x")


@pytest.mark.parametrize("fmt", ["pcap", "pcapng"])
@pytest.mark.parametrize("snap", ["60", "100", "14"])
def test_s_with_r_cuts_as_editcap(tmp_path, fmt, snap):
    f = tmp_path / f"s.{fmt}"
    (wrpcap if fmt == "pcap" else wrpcapng)(str(f), snap_packets())
    judge = tmp_path / f"editcap.{fmt}"
    subprocess.run(["editcap", "-s", snap, str(f), str(judge)], check=True, timeout=30)
    out = tmp_path / "ipmon.pcap"
    r = run_ipmon("capture", "-s", snap, "-r", str(f), "-w", str(out))
    assert r.returncode == 0, r.stderr
    got, want = frames(out), frames(judge)
    assert got == want
    assert [int(c) for c, _ in got[0]] == [min(int(snap), 42 + n) for n in [0, 10, 27, 58, 200, 1000]]
    assert [int(w) for _, w in got[0]] == [42 + n for n in [0, 10, 27, 58, 200, 1000]]  # the length stays
    # -x shows the cut bytes as tcpdump -xx shows editcap's file
    hexes = [l for l in ipmon_lines("-x", "-s", snap, "-r", str(f)) if l.startswith("\t")]
    assert hexes == [l for l in tcpdump("-xx", "-r", str(judge)) if l.startswith("\t")]


def test_s_with_r_from_stdin(tmp_path):
    f = tmp_path / "s.pcap"
    wrpcap(str(f), snap_packets())
    with open(f, "rb") as stdin:
        r = subprocess.run([IPMON, "capture", "-s", "50", "-r", "-", "-w", "-"], stdin=stdin, capture_output=True, timeout=30)
    assert r.returncode == 0, r.stderr
    out = tmp_path / "o.pcap"
    out.write_bytes(r.stdout)
    judge = tmp_path / "e.pcap"
    subprocess.run(["editcap", "-s", "50", str(f), str(judge)], check=True, timeout=30)
    assert frames(out) == frames(judge)


def announcement(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    return [l for l in r.stderr.splitlines() if l.startswith("reading from file")]


@pytest.mark.parametrize("fmt,snaplen", [("pcap", 65535), ("pcap", 1500), ("pcap", 262144), ("pcapng", 96),
                                         ("pcapng", 262144)])
@pytest.mark.parametrize("s", [[], ["-s", "40"]])
def test_announced_snapshot_length_is_the_files(tmp_path, fmt, snaplen, s):
    f = tmp_path / "a.pcap"
    wrpcap(str(f), snap_packets()[:2], snaplen=snaplen)
    if fmt == "pcapng":  # editcap keeps the snapshot length in the interface block
        subprocess.run(["editcap", "-F", "pcapng", str(f), str(tmp_path / "a.pcapng")], check=True, timeout=30)
        f = tmp_path / "a.pcapng"
    want = announcement(["tcpdump", *s, "-r", str(f)])
    got = announcement([IPMON, "capture", *s, "-r", str(f)])
    assert len(want) == 1 and got == want
    assert want[0].endswith(f"snapshot length {snaplen}")


# ---- -v: IPv4 options as tcpdump -v shows them ----

def with_ip_options(opt, l4=None):
    """An Ethernet frame whose IPv4 header carries the option bytes `opt`
    (padded with EOL to a multiple of 4), its header checksum right: scapy's
    own option classes cannot build the malformed ones."""
    import struct
    l4 = l4 if l4 is not None else UDP(sport=1, dport=2) / Raw(b"x")
    base = bytes(IP(src="10.0.0.1", dst="10.0.0.2") / l4)
    pad = opt + b"\0" * (-len(opt) % 4)
    h = bytearray(base[:20])
    h[0] = 0x40 | (5 + len(pad) // 4)
    h[2:4] = struct.pack("!H", len(base) + len(pad))
    h[10:12] = b"\0\0"
    h = bytes(h) + pad
    s = sum(struct.unpack("!%dH" % (len(h) // 2), h))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    h = h[:10] + struct.pack("!H", ~s & 0xffff) + h[12:]
    return Ether(src=M1, dst=M2, type=0x800) / Raw(h + base[20:])


A4, B4 = bytes([1, 2, 3, 4]), bytes([5, 6, 7, 8])
IP_OPTIONS = [
    b"\x07\x0b\x04" + A4 + B4,            # RR, nothing recorded yet
    b"\x07\x0b\x08" + A4 + B4,            # RR, one recorded
    b"\x07\x0b\x0c" + A4 + B4,            # RR, full
    b"\x07\x0b\x05" + A4 + B4,            # RR, bad pointer
    b"\x94\x04\x00\x00",                  # Router Alert
    b"\x94\x04\x00\x07",                  # Router Alert with a value
    b"\x94\x02",                          # Router Alert too short
    b"\x01\x01\x01\x00",                  # NOP padding, EOL
    b"\x44\x0c\x05\x00" + b"\x00\x00\x00\x01\x00\x00\x00\x02",  # timestamps only
    b"\x44\x0c\x0d\x11" + A4 + b"\x00\x00\x00\x03",             # TS+ADDR, full, overflow 1
    b"\x44\x0c\x05\x13" + A4 + b"\x00\x00\x00\x03",             # prespecified
    b"\x44\x0c\x05\x02" + A4 + b"\x00\x00\x00\x03",             # bad type
    b"\x44\x03\x05",                                             # timestamp too short
    b"\x44\x0a\x05\x00" + b"\x00\x00\x00\x01\x00\x00",          # length not a multiple
    b"\x44\x28\x05\x01" + (A4 + b"\x00\x00\x00\x09") * 4 + b"\x00" * 4,
    b"\x83\x0b\x04" + A4 + B4,            # LSRR
    b"\x89\x07\x04" + A4,                 # SSRR
    b"\x82\x0b" + bytes(9),               # security
    b"\x88\x04\x12\x34",                  # stream id: unknown to tcpdump
    b"\x99\x03\x00",                      # unknown
    b"\x52\x0c" + bytes(10),              # traceroute
    b"\x01\x94\x04\x00\x00\x00",          # NOP, RA
    b"\x07\x02", b"\x07\x40", b"\x07\x01",  # bad lengths
    b"\x07\x09\x00" + A4 + B4[:2],        # bad length and pointer, read past the option
    b"\x07\x27\x04" + bytes(36),          # the longest RR
    b"\x01" * 40,                         # 40 NOPs
    b"\x00\x07\x07\x04",                  # EOL first
]


def ip_options_file(path):
    pkts = [with_ip_options(o) for o in IP_OPTIONS]
    # a TCP checksum over a source route: tcpdump sums with the route's last hop
    pkts.append(with_ip_options(b"\x83\x07\x04" + bytes([10, 0, 0, 9]), TCP(sport=5, dport=6, flags="S")))
    pkts.append(with_ip_options(b"\x89\x07\x04" + bytes([10, 0, 0, 2]), TCP(sport=5, dport=6, flags="S")))
    wrpcap(str(path), pkts)
    return len(pkts)


def ip_groups_agree(path, vflag):
    want = [l for l in tcpdump(vflag, "-r", str(path)) if not l.startswith(" ")]
    got = ipmon_lines(vflag, "-r", str(path))
    assert len(got) == len(want) > 0
    for g, w in zip(got, want):
        group = w[w.index(" IP ") + 4:]  # tcpdump's IP group ends its first line
        if group.endswith(" [|ip]"):  # tcpdump stops the packet there; ipmon closes the group
            assert group + "))" in g, (g, w)
        else:
            assert group + " " in g, (g, w)
    return got


@pytest.mark.parametrize("vflag", ["-v", "-vv"])
def test_ip_options_are_tcpdumps(tmp_path, vflag):
    f = tmp_path / "opts.pcap"
    n = ip_options_file(f)
    got = ip_groups_agree(f, vflag)
    assert sum("options (" in g for g in got) == n
    assert ", options (RR 1.2.3.4, 5.6.7.8,EOL))" in got[1]
    assert ", options (NOP,NOP,NOP,EOL))" in got[7]
    # the TCP verdicts over a source route, as tcpdump's
    want = [re.search(r"cksum 0x[0-9a-f]{4} \([^)]*\)", l).group(0) for l in tcpdump(vflag, "-r", str(f)) if "Flags [" in l]
    assert [re.search(r"cksum 0x[0-9a-f]{4} \([^)]*\)", l).group(0) for l in got[-2:]] == want
    assert "incorrect" in want[0] and "correct)" in want[1]
    # without -v, no options
    assert not any(", options (" in l for l in ipmon_lines("-r", str(f)))


@pytest.mark.parametrize("snap", [34, 35, 36, 37, 38, 40, 44, 50])
def test_ip_options_cut_short_are_tcpdumps(tmp_path, snap):
    f = tmp_path / "opts.pcap"
    ip_options_file(f)
    cut = tmp_path / "cut.pcap"
    subprocess.run(["editcap", "-s", str(snap), str(f), str(cut)], check=True, timeout=30)
    ip_groups_agree(cut, "-v")
