"""The packet decoder through `ipmon capture -r`: files written by scapy with
known packets of every decoded kind and link type; each line must say
exactly what was built, and addresses and ports must agree with tshark."""
import json
import subprocess

import pytest

from conftest import run_ipmon

scapy = pytest.importorskip("scapy.all")
from scapy.all import (ARP, GRE, ICMP, IP, SCTP, TCP, UDP, CookedLinux, Dot1Q, Dot3,  # noqa: E402
                       Ether, ICMPv6EchoRequest, ICMPv6ND_NS, IPv6, IPv6ExtHdrFragment,
                       IPv6ExtHdrHopByHop, LLC, Loopback, Raw, fragment, wrpcap)

M1, M2 = "02:00:00:00:00:01", "02:00:00:00:00:02"


def eth():
    return Ether(src=M1, dst=M2)


def lines_of(path, *extra):
    r = run_ipmon("capture", "-r", str(path), *extra)
    assert r.returncode == 0, r.stderr
    # Drop "TIME DIRECTION FILE " to keep what the decoder said.
    return [line.split(" ", 3)[3] for line in r.stdout.splitlines()]


ETHERNET_CASES = [
    (eth() / Dot1Q(vlan=100) / IP(src="192.0.2.1", dst="192.0.2.2") / UDP(sport=1234, dport=53) / Raw(b"abcd"),
     "vlan 100 UDP 192.0.2.1:1234 > 192.0.2.2:53 payload 4 len 50"),
    (eth() / Dot1Q(vlan=7) / Dot1Q(vlan=8) / IPv6(src="2001:db8::1", dst="2001:db8::2") / UDP(sport=1, dport=2),
     "vlan 7 UDP [2001:db8::1]:1 > [2001:db8::2]:2 payload 0 len 70"),
    (Ether(src=M1, dst="ff:ff:ff:ff:ff:ff") / ARP(op=1, hwsrc=M1, psrc="10.0.0.1", pdst="10.0.0.2"),
     "ARP 10.0.0.1 > 10.0.0.2 request who-has 10.0.0.2 tell 10.0.0.1 len 42"),
    (eth() / ARP(op=2, hwsrc=M2, psrc="10.0.0.2", hwdst=M1, pdst="10.0.0.1"),
     "ARP 10.0.0.2 > 10.0.0.1 reply 10.0.0.2 is-at 02:00:00:00:00:02 len 42"),
    (eth() / IP(src="10.0.0.1", dst="10.0.0.2") / TCP(sport=1000, dport=80, flags="S", seq=7, window=100),
     "TCP 10.0.0.1:1000 > 10.0.0.2:80 [S] seq 7 win 100 payload 0 len 54"),
    (eth() / IP(src="10.0.0.2", dst="10.0.0.1") / TCP(sport=80, dport=1000, flags="SA", seq=9, ack=8, window=5),
     "TCP 10.0.0.2:80 > 10.0.0.1:1000 [S.] seq 9 ack 8 win 5 payload 0 len 54"),
    (eth() / IP(src="10.0.0.1", dst="10.0.0.2") / TCP(sport=1000, dport=80, flags="FPAU", seq=1, ack=2, window=3) / Raw(b"bye"),
     # relative to the SYN-ACK's numbers, as tcpdump prints them (without -S)
     "TCP 10.0.0.1:1000 > 10.0.0.2:80 [FP.U] seq 4294967290 ack 4294967289 win 3 payload 3 len 57"),
    (eth() / IP(src="10.0.0.1", dst="10.0.0.2") / TCP(sport=1, dport=2, flags="R", seq=0, window=0),
     "TCP 10.0.0.1:1 > 10.0.0.2:2 [R] seq 0 win 0 payload 0 len 54"),
    (eth() / IP(src="10.0.0.1", dst="10.0.0.2") / TCP(sport=1, dport=2, flags="SEC", seq=0, window=0),
     "TCP 10.0.0.1:1 > 10.0.0.2:2 [SEW] seq 0 win 0 payload 0 len 54"),
    (eth() / IP(src="10.0.0.1", dst="10.0.0.2") / TCP(sport=1, dport=2, flags=0, seq=0, window=0),
     "TCP 10.0.0.1:1 > 10.0.0.2:2 [none] seq 0 win 0 payload 0 len 54"),
    (eth() / IP(src="10.0.0.1", dst="10.0.0.2") / ICMP(type=8, id=77, seq=3) / Raw(b"p" * 8),
     "ICMP 10.0.0.1 > 10.0.0.2 echo request id 77 seq 3 len 50"),
    (eth() / IP(src="10.0.0.2", dst="10.0.0.1") / ICMP(type=3, code=3) / IP(src="10.0.0.1", dst="10.0.0.2") / UDP(sport=5, dport=6),
     "ICMP 10.0.0.2 > 10.0.0.1 unreachable: port unreachable len 70"),
    (eth() / IP(src="10.0.0.2", dst="10.0.0.1") / ICMP(type=11, code=0),
     "ICMP 10.0.0.2 > 10.0.0.1 time exceeded len 42"),
    (eth() / IPv6(src="fe80::1", dst="ff02::1:ff00:2") / ICMPv6ND_NS(tgt="fe80::2"),
     "ICMPv6 fe80::1 > ff02::1:ff00:2 neighbor solicitation len 78"),
    (eth() / IPv6(src="2001:db8::1", dst="2001:db8::2") / ICMPv6EchoRequest(id=5, seq=6),
     "ICMPv6 2001:db8::1 > 2001:db8::2 echo request id 5 seq 6 len 62"),
    (eth() / IPv6(src="2001:db8::1", dst="2001:db8::2") / IPv6ExtHdrHopByHop() / UDP(sport=5353, dport=5353) / Raw(b"xyz"),
     "UDP [2001:db8::1]:5353 > [2001:db8::2]:5353 payload 3 len 73"),
    (eth() / IPv6(src="2001:db8::1", dst="2001:db8::2") / IPv6ExtHdrFragment(offset=0, m=1, id=1) / UDP(sport=7, dport=8) / Raw(b"q" * 16),
     "UDP [2001:db8::1]:7 > [2001:db8::2]:8 fragment offset 0 more payload 16 len 86"),
    (eth() / IPv6(src="2001:db8::1", dst="2001:db8::2") / IPv6ExtHdrFragment(offset=2, m=0, id=1, nh=17) / Raw(b"r" * 8),
     "UDP 2001:db8::1 > 2001:db8::2 fragment offset 16 len 70"),
    (eth() / IP(src="10.0.0.1", dst="10.0.0.2", proto=47) / GRE() / IP(src="1.1.1.1", dst="2.2.2.2"),
     "GRE 10.0.0.1 > 10.0.0.2 len 58"),
    (eth() / IP(src="10.0.0.1", dst="10.0.0.2", proto=253) / Raw(b"\x00" * 4),
     "IP-PROTO-253 10.0.0.1 > 10.0.0.2 len 38"),
    (eth() / IP(src="10.0.0.1", dst="10.0.0.2") / SCTP(sport=3868, dport=3869),
     "SCTP 10.0.0.1:3868 > 10.0.0.2:3869 payload 0 len 46"),
    (Ether(src=M1, dst="01:80:c2:00:00:0e", type=0x88CC) / Raw(b"\x02\x07\x04" + b"\x00" * 20),
     "LLDP 02:00:00:00:00:01 > 01:80:c2:00:00:0e len 37"),
    (Ether(src=M1, dst=M2, type=0x1234) / Raw(b"\x00" * 46),
     "ETHERTYPE-0x1234 02:00:00:00:00:01 > 02:00:00:00:00:02 len 60"),
    (Dot3(src=M1, dst="01:80:c2:00:00:00") / LLC(dsap=0x42, ssap=0x42, ctrl=3) / Raw(b"\x00" * 35),
     "STP 02:00:00:00:00:01 > 01:80:c2:00:00:00 len 52"),
    # Cut inside the UDP header: addresses are known, ports are not.
    (Ether(bytes(eth() / IP(src="10.0.0.1", dst="10.0.0.2") / UDP(sport=9, dport=9))[:36]),
     "UDP 10.0.0.1 > 10.0.0.2 len 36 [truncated]"),
]


def test_ethernet_kinds(tmp_path):
    f = tmp_path / "eth.pcap"
    wrpcap(str(f), [p for p, _ in ETHERNET_CASES])
    assert lines_of(f) == [want for _, want in ETHERNET_CASES]


def test_ipv4_fragments(tmp_path):
    f = tmp_path / "frag.pcap"
    pkt = eth() / IP(src="10.0.0.1", dst="10.0.0.2", id=42) / UDP(sport=1, dport=2) / Raw(b"f" * 100)
    frags = fragment(pkt, fragsize=48)
    wrpcap(str(f), frags)
    got = lines_of(f)
    assert got[0] == "UDP 10.0.0.1:1 > 10.0.0.2:2 fragment offset 0 more payload 100 len 82"
    assert got[1] == "UDP 10.0.0.1 > 10.0.0.2 fragment offset 48 more len 82"
    assert got[2] == "UDP 10.0.0.1 > 10.0.0.2 fragment offset 96 len 46"


def sll2(proto, payload, pkttype=0, ifindex=3):
    # The Linux cooked v2 header: protocol, reserved, ifindex, hatype, pkttype, halen, address.
    return (proto.to_bytes(2, "big") + b"\0\0" + ifindex.to_bytes(4, "big") + (1).to_bytes(2, "big")
            + bytes([pkttype, 6]) + bytes.fromhex("020000000001") + b"\0\0" + payload)


@pytest.mark.parametrize("linktype, frames, want", [
    (101, [IP(src="10.0.0.1", dst="10.0.0.2") / UDP(sport=1, dport=2) / Raw(b"ab")],
     ["UDP 10.0.0.1:1 > 10.0.0.2:2 payload 2 len 30"]),
    (101, [IPv6(src="::1", dst="::2") / TCP(sport=3, dport=4, flags="A", seq=1, ack=1, window=9)],
     ["TCP [::1]:3 > [::2]:4 [.] seq 1 ack 1 win 9 payload 0 len 60"]),
    (228, [IP(src="10.0.0.1", dst="10.0.0.2") / ICMP(type=0, id=1, seq=2)],
     ["ICMP 10.0.0.1 > 10.0.0.2 echo reply id 1 seq 2 len 28"]),
    (113, [CookedLinux(pkttype=0, lladdrtype=1, lladdrlen=6, src=bytes.fromhex("0200000000010000"), proto=0x0800)
           / IP(src="10.0.0.1", dst="10.0.0.2") / UDP(sport=5, dport=6)],
     ["UDP 10.0.0.1:5 > 10.0.0.2:6 payload 0 len 44"]),
    (276, [sll2(0x86DD, bytes(IPv6(src="2001:db8::1", dst="2001:db8::2") / UDP(sport=7, dport=8) / Raw(b"x")))],
     ["UDP [2001:db8::1]:7 > [2001:db8::2]:8 payload 1 len 69"]),
    (276, [sll2(0x0806, bytes(ARP(op=1, hwsrc=M1, psrc="10.0.0.1", pdst="10.0.0.9")))],
     ["ARP 10.0.0.1 > 10.0.0.9 request who-has 10.0.0.9 tell 10.0.0.1 len 48"]),
    (0, [Loopback(type=2) / IP(src="127.0.0.1", dst="127.0.0.1") / UDP(sport=9, dport=10)],
     ["UDP 127.0.0.1:9 > 127.0.0.1:10 payload 0 len 32"]),
    (0, [Loopback(type=30) / IPv6(src="::1", dst="::1") / UDP(sport=9, dport=10)],
     ["UDP [::1]:9 > [::1]:10 payload 0 len 52"]),
    (108, [bytes.fromhex("00000002") + bytes(IP(src="10.0.0.1", dst="10.0.0.2") / UDP(sport=11, dport=12))],
     ["UDP 10.0.0.1:11 > 10.0.0.2:12 payload 0 len 32"]),
    (147, [b"\x01\x02\x03"], ["LINKTYPE-147 len 3"]),
])
def test_link_types(tmp_path, linktype, frames, want):
    f = tmp_path / f"lt{linktype}.pcap"
    wrpcap(str(f), [Raw(bytes(x)) if isinstance(x, bytes) else x for x in frames], linktype=linktype)
    assert lines_of(f) == want


def test_json_escapes_and_agrees_with_tshark(tmp_path):
    # A file name that needs JSON escaping, and packets tshark decodes too.
    f = tmp_path / 'we"ird\\name.pcap'
    pkts = [eth() / IP(src="198.51.100.1", dst="198.51.100.2") / UDP(sport=1111, dport=2222) / Raw(b"a" * 9),
            eth() / IPv6(src="2001:db8::a", dst="2001:db8::b") / TCP(sport=3333, dport=4444, flags="PA") / Raw(b"b" * 3),
            eth() / IP(src="198.51.100.2", dst="198.51.100.1") / TCP(sport=2222, dport=1111, flags="S")]
    wrpcap(str(f), pkts)
    r = run_ipmon("capture", "-r", str(f), "--json")
    assert r.returncode == 0, r.stderr
    recs = [json.loads(line) for line in r.stdout.splitlines()]
    assert all(x["adapter"] == str(f) for x in recs)
    t = subprocess.run(["tshark", "-r", str(f), "-T", "fields", "-E", "separator=,",
                        "-e", "ip.src", "-e", "ipv6.src", "-e", "ip.dst", "-e", "ipv6.dst",
                        "-e", "udp.srcport", "-e", "tcp.srcport", "-e", "udp.dstport", "-e", "tcp.dstport",
                        "-e", "frame.len"], capture_output=True, text=True, check=True).stdout.splitlines()
    for x, line in zip(recs, t):
        s4, s6, d4, d6, us, ts, ud, td, flen = line.split(",")
        assert x["src"] == (s4 or s6) and x["dst"] == (d4 or d6)
        assert x["sport"] == int(us or ts) and x["dport"] == int(ud or td)
        assert x["len"] == int(flen)
    assert [x["tcp_flags"] for x in recs] == [None, "P.", "S"]
    assert [x["payload_len"] for x in recs] == [9, 3, 0]
