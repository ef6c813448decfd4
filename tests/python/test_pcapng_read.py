"""Reading pcapng files: each packet's interface name (if_name) and
direction (epb_flags) come with it, in either byte order, beside libpcap's
own reading of the file; tshark is the judge of what the file says."""
import struct
import subprocess

import pytest

import ipmonitor
from ipmonitor import IPMonitor


def frame(n, payload_len):
    """An Ethernet/IPv4/UDP frame whose payload says which packet it is."""
    payload = bytes([n]) * payload_len
    udp = struct.pack("!HHHH", 40000 + n, 5000, 8 + len(payload), 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), n, 0, 64, 17, 0,
                     bytes([10, 0, 0, 2]), bytes([10, 0, 0, 1])) + udp
    return b"\x02" * 6 + b"\x04" * 6 + b"\x08\x00" + ip


def block(e, btype, body):
    total = 12 + len(body)
    return struct.pack(e + "II", btype, total) + body + struct.pack(e + "I", total)


def option(e, code, value):
    pad = (-len(value)) % 4
    return struct.pack(e + "HH", code, len(value)) + value + b"\0" * pad


def end_of_options(e):
    return struct.pack(e + "HH", 0, 0)


def pcapng(e, packets):
    """A pcapng file in byte order `e` ('<' or '>'): two named interfaces,
    one unnamed, a name-resolution block and a statistics block to skip,
    and `packets`: (kind, interface, flags or None, frame)."""
    shb = block(e, 0x0A0D0D0A, struct.pack(e + "IHHq", 0x1A2B3C4D, 1, 0, -1))
    idbs = b""
    for name in (b"eth-test0", b"wlan-test1", None):
        opts = (option(e, 2, name) if name else b"") + option(e, 9, b"\x09")
        idbs += block(e, 1, struct.pack(e + "HHI", 1, 0, 65535) + opts + end_of_options(e))
    nrb = block(e, 4, struct.pack(e + "HH", 0, 0))
    out = [shb, idbs, nrb]
    ts = 1_700_000_000 * 10**9
    for i, (kind, itf, flags, data) in enumerate(packets):
        pad = b"\0" * ((-len(data)) % 4)
        if kind == "spb":
            out.append(block(e, 3, struct.pack(e + "I", len(data)) + data + pad))
            continue
        t = ts + i * 1000
        opts = (option(e, 2, struct.pack(e + "I", flags)) + end_of_options(e)) if flags is not None else b""
        body = struct.pack(e + "IIIII", itf, t >> 32, t & 0xFFFFFFFF, len(data), len(data)) + data + pad + opts
        out.append(block(e, 6, body))
    out.append(block(e, 5, struct.pack(e + "III", 0, 0, 0)))  # an ISB
    return b"".join(out)


PACKETS = [
    ("epb", 0, 1, frame(1, 10)),     # eth-test0, inbound
    ("epb", 1, 2, frame(2, 20)),     # wlan-test1, outbound
    ("epb", 0, None, frame(3, 30)),  # no flags: direction unknown
    ("epb", 1, 0, frame(4, 40)),     # flags without a direction
    ("epb", 2, 1, frame(5, 50)),     # an unnamed interface: the file's path
    ("spb", 0, None, frame(6, 60)),  # simple packet block: interface 0, no flags
]


@pytest.mark.parametrize("order", ["<", ">"])
def test_names_and_directions_from_the_file(tmp_path, order):
    path = tmp_path / f"two-{'le' if order == '<' else 'be'}.pcapng"
    path.write_bytes(pcapng(order, PACKETS))
    got = list(IPMonitor().packets(str(path)))
    assert [p.data for p in got] == [f for _, _, _, f in PACKETS]
    want_names = ["eth-test0", "wlan-test1", "eth-test0", "wlan-test1", str(path), "eth-test0"]
    assert [p.adapter for p in got] == want_names
    IN, OUT, UNK = (ipmonitor.PACKET_DIRECTION_INCOMING, ipmonitor.PACKET_DIRECTION_OUTGOING,
                    ipmonitor.PACKET_DIRECTION_UNKNOWN)
    assert [p.direction for p in got] == [IN, OUT, UNK, UNK, IN, UNK]
    # tshark reads the same file the same way
    t = subprocess.run(["tshark", "-r", str(path), "-T", "fields", "-e", "frame.interface_name",
                        "-e", "frame.len"], capture_output=True, text=True, check=True).stdout
    rows = [line.split("\t") for line in t.splitlines()]
    assert [int(n) for _, n in rows] == [len(f) for _, _, _, f in PACKETS]
    assert [r[0] for r in rows][:4] == want_names[:4]


def test_a_filter_keeps_names_and_directions_in_step(tmp_path):
    """libpcap is given no filter for pcapng (the walker sees every packet):
    a filter that drops packets in between must not shift the names."""
    path = tmp_path / "f.pcapng"
    path.write_bytes(pcapng("<", PACKETS))
    m = IPMonitor()
    m.filter = "udp src port 40002 or udp src port 40005"
    got = list(m.packets(str(path)))
    assert [(p.adapter, p.direction) for p in got] == [
        ("wlan-test1", ipmonitor.PACKET_DIRECTION_OUTGOING), (str(path), ipmonitor.PACKET_DIRECTION_INCOMING)]


def test_a_damaged_block_ends_with_libpcaps_error_and_the_packets_before(tmp_path):
    data = pcapng("<", PACKETS)
    # cut the file inside the fourth packet's block
    cut = data.index(frame(4, 40)) + 10
    path = tmp_path / "cut.pcapng"
    path.write_bytes(data[:cut])
    m = IPMonitor()
    seen, errors = [], []
    m.on_packet = lambda e: seen.append((e.adapter, e.direction))
    m.on_error = lambda e: errors.append(e.description)
    m.activate(str(path))
    with pytest.raises(ipmonitor.IPMonitorError):
        while m.active:
            m.do_events()
    assert [a for a, _ in seen] == ["eth-test0", "wlan-test1", "eth-test0"]
    assert errors and "truncated" in errors[0]
