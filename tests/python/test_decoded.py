"""The decoded fields of IPMonitorPacketEventParams (proto, src, dst, sport,
dport, vlan, tcp_flags, payload_len, ...): the library's ipm_decode() run
on first read, with the names and values of `ipmon capture --json`. Packets
are built here with scapy; each field is checked while the handler runs
(the object is reused from packet to packet, so a stale decode would show)
and on objects kept past the event (decoded from their copied bytes)."""
import ipaddress

import pytest

from helpers import run_file, write_pcap

scapy = pytest.importorskip("scapy.all")
from scapy.all import (ARP, ICMP, IP, TCP, UDP, Dot1Q, Ether, ICMPv6EchoRequest,  # noqa: E402
                       ICMPv6MLReport2, IPv6, IPv6ExtHdrHopByHop, Raw, RouterAlert)

import ipmonitor  # noqa: E402

M1, M2 = "02:00:00:00:00:01", "02:00:00:00:00:02"
FIELDS = ("proto", "ip_version", "src", "dst", "sport", "dport", "tcp_flags", "payload_len",
          "vlan", "vlans", "mac_src", "mac_dst", "ethertype", "ip_proto", "icmp_type",
          "icmp_code", "fragment_offset", "truncated")
A4, B4 = ipaddress.ip_address("10.0.0.1"), ipaddress.ip_address("10.0.0.2")
A6, B6 = ipaddress.ip_address("2001:db8::1"), ipaddress.ip_address("2001:db8::2")


def eth():
    return Ether(src=M1, dst=M2)


def want(**kw):
    base = dict(ip_version=None, src=None, dst=None, sport=None, dport=None, tcp_flags=None,
                payload_len=None, vlan=None, vlans=(), mac_src=M1, mac_dst=M2, ethertype=None,
                ip_proto=None, icmp_type=None, icmp_code=None, fragment_offset=None,
                truncated=False)
    base.update(kw)
    return base


CASES = [
    (eth() / Dot1Q(vlan=100) / IP(src="10.0.0.1", dst="10.0.0.2") / TCP(sport=1000, dport=80, flags="SA") / Raw(b"xyz"),
     want(proto="TCP", ip_version=4, src=A4, dst=B4, sport=1000, dport=80, tcp_flags=0x12,
          payload_len=3, vlan=100, vlans=(100,), ethertype=0x0800, ip_proto=6)),
    (eth() / IPv6(src="2001:db8::1", dst="2001:db8::2") / IPv6ExtHdrHopByHop() / UDP(sport=5353, dport=53) / Raw(b"ab"),
     want(proto="UDP", ip_version=6, src=A6, dst=B6, sport=5353, dport=53, payload_len=2,
          ethertype=0x86DD, ip_proto=17)),
    (eth() / IPv6(src="fe80::1", dst="ff02::16") / IPv6ExtHdrHopByHop(options=[RouterAlert()]) / ICMPv6MLReport2(),
     want(proto="ICMPv6", ip_version=6, src=ipaddress.ip_address("fe80::1"),
          dst=ipaddress.ip_address("ff02::16"), ethertype=0x86DD, ip_proto=58, icmp_type=143,
          icmp_code=0)),
    (eth() / IPv6(src="2001:db8::1", dst="2001:db8::2") / ICMPv6EchoRequest(id=5, seq=6),
     want(proto="ICMPv6", ip_version=6, src=A6, dst=B6, ethertype=0x86DD, ip_proto=58,
          icmp_type=128, icmp_code=0)),
    (eth() / IP(src="10.0.0.1", dst="10.0.0.2") / ICMP(type=8, id=1, seq=2),
     want(proto="ICMP", ip_version=4, src=A4, dst=B4, ethertype=0x0800, ip_proto=1, icmp_type=8,
          icmp_code=0)),
    (eth() / IP(src="10.0.0.1", dst="10.0.0.2", proto=17, frag=6) / Raw(b"f" * 16),
     want(proto="UDP", ip_version=4, src=A4, dst=B4, payload_len=16, ethertype=0x0800,
          ip_proto=17, fragment_offset=48)),
    (Ether(src=M1, dst="ff:ff:ff:ff:ff:ff") / ARP(op=1, hwsrc=M1, psrc="10.0.0.1", pdst="10.0.0.2"),
     want(proto="ARP", src=A4, dst=B4, mac_dst="ff:ff:ff:ff:ff:ff", ethertype=0x0806)),
    (Ether(src=M1, dst=M2, type=0x88CC) / Raw(b"\x02\x07\x04" + b"\x00" * 20),
     want(proto="LLDP", payload_len=23, ethertype=0x88CC)),
    (Ether(bytes(eth() / IP(src="10.0.0.1", dst="10.0.0.2") / UDP(sport=9, dport=9))[:36]),
     want(proto="UDP", ip_version=4, src=A4, dst=B4, ethertype=0x0800, ip_proto=17,
          truncated=True)),
]


@pytest.fixture
def corpus(tmp_path):
    records = [(1_700_000_000_000_000_000 + i * 1000, bytes(p)) for i, (p, _) in enumerate(CASES)]
    return write_pcap(tmp_path / "decoded.pcap", records)


def test_fields_during_and_after_the_event(corpus):
    during, kept = [], []

    def on_packet(e):
        during.append({f: getattr(e, f) for f in FIELDS})
        if len(kept) % 2 == 0:
            kept.append(e)         # kept without reading a field: decoded later, from the copy
        else:
            e.proto                # decoded now, from the library's buffer
            kept.append(e)

    with ipmonitor.IPMonitor() as m:
        m.on_packet = on_packet
        run_file(m, corpus)
    assert len(during) == len(CASES)
    for got, (pkt, expected) in zip(during, CASES):
        assert got == expected, pkt.summary()
    for e, (pkt, expected) in zip(kept, CASES):
        assert {f: getattr(e, f) for f in FIELDS} == expected, pkt.summary()


def test_field_types_and_payload_offset(corpus):
    seen = []

    def on_packet(e):
        seen.append((e.src, e.payload_offset, e.payload_len, e.data))

    with ipmonitor.IPMonitor() as m:
        m.on_packet = on_packet
        run_file(m, corpus)
    src, offset, length, data = seen[0]
    assert isinstance(src, ipaddress.IPv4Address)
    assert isinstance(seen[1][0], ipaddress.IPv6Address)
    # The TCP payload of the first packet: after Ethernet, one tag, IPv4, TCP.
    assert offset == 14 + 4 + 20 + 20 and data[offset:offset + length] == b"xyz"
