#!/usr/bin/python3
"""make_seeds.py - writes the seed corpora of the fuzz targets,
fuzz/corpus/<target>/, from packets built here (no captured traffic is
copied): a few frames of each kind the decoder knows, laid out as each
target reads its input (see the top of fuzz/fuzz_<target>.c).

Run it from anywhere; it replaces the files it writes and leaves others
(inputs a fuzzing run added) alone: /usr/bin/python3 fuzz/make_seeds.py
"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus")

DLT_NULL, DLT_EN10MB, DLT_RAW, DLT_LOOP, DLT_LINUX_SLL, DLT_LINUX_SLL2 = 0, 1, 101, 108, 113, 276
MAC_A, MAC_B = bytes.fromhex("020000000001"), bytes.fromhex("020000000002")


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def ipv4(proto, payload, src="10.0.0.2", dst="10.0.0.1", frag=0, ihl=5):
    opts = b"\x01" * ((ihl - 5) * 4)
    h = struct.pack("!BBHHHBBH4s4s", 0x40 | ihl, 0, 20 + len(opts) + len(payload), 1, frag, 64,
                    proto, 0, bytes(map(int, src.split("."))), bytes(map(int, dst.split("."))))
    h += opts
    h = h[:10] + struct.pack("!H", csum(h)) + h[12:]
    return h + payload


def ipv6(nxt, payload, src=b"\xfd" + b"\0" * 14 + b"\x01", dst=b"\xfd" + b"\0" * 14 + b"\x02"):
    return struct.pack("!IHBB", 0x60000000, len(payload), nxt, 64) + src + dst + payload


def udp(sport, dport, data):
    return struct.pack("!HHHH", sport, dport, 8 + len(data), 0) + data


def tcp(sport, dport, flags, data=b""):
    return struct.pack("!HHIIBBHHH", sport, dport, 1, 2, 0x50, flags, 64800, 0, 0) + data


def icmp(t, code, ident=7, seq=1):
    return struct.pack("!BBHHH", t, code, 0, ident, seq) + b"ping"


def eth(ethertype, payload, src=MAC_B, dst=MAC_A):
    return dst + src + struct.pack("!H", ethertype) + payload


def vlan(vid, ethertype, payload):
    return eth(0x8100, struct.pack("!HH", vid, ethertype) + payload)


ARP = eth(0x0806, struct.pack("!HHBBH", 1, 0x0800, 6, 4, 1) + MAC_B + bytes([10, 0, 0, 2])
          + b"\0" * 6 + bytes([10, 0, 0, 1]), dst=b"\xff" * 6)

# Network-layer packets, and Ethernet frames of every kind decoded.
IP_PACKETS = {
    "udp4-dns": ipv4(17, udp(40001, 53, b"\x12\x34\x01\x00\x00\x01" + b"\0" * 6
                                      + b"\x03www\x00\x00\x01\x00\x01")),
    "tcp6-syn": ipv6(6, tcp(5555, 443, 0x02)),
    "icmp4-echo": ipv4(1, icmp(8, 0)),
    "icmp6-echo": ipv6(58, icmp(128, 0)),
    "icmp4-unreach": ipv4(1, struct.pack("!BBHI", 3, 3, 0, 0) + ipv4(17, udp(1, 2, b""))[:28]),
    "ip4-fragment": ipv4(17, udp(1000, 2000, b"x" * 16), frag=0x2000),
    "ip4-options-sctp": ipv4(132, struct.pack("!HHII", 5000, 5001, 0, 0), ihl=6),
    "ip6-hopopts-udp": ipv6(0, bytes([17, 0, 1, 4, 0, 0, 0, 0]) + udp(4000, 4001, b"a")),
    "ip6-fragment-tcp": ipv6(44, bytes([6, 0, 0, 1, 0, 0, 0, 9]) + tcp(80, 8080, 0x18, b"GET")),
    "gre4": ipv4(47, b"\0\0\x08\0" + ipv4(6, tcp(1, 2, 0x10))),
}
FRAMES = {name: eth(0x86DD if p[0] >> 4 == 6 else 0x0800, p) for name, p in IP_PACKETS.items()}
FRAMES["arp-request"] = ARP
FRAMES["vlan-udp4"] = vlan(42, 0x0800, IP_PACKETS["udp4-dns"])
FRAMES["qinq-tcp6"] = eth(0x88A8, struct.pack("!HH", 10, 0x8100) + struct.pack("!HH", 20, 0x86DD)
                          + IP_PACKETS["tcp6-syn"])
FRAMES["llc-stp"] = MAC_A + MAC_B + struct.pack("!H", 38) + b"\x42\x42\x03" + b"\0" * 35
FRAMES["lldp"] = eth(0x88CC, b"\x02\x07\x04" + MAC_B + b"\0\0")
FRAMES["truncated-tcp4"] = FRAMES["udp4-dns"][:14 + 12]


def sll(proto, payload):
    return struct.pack("!HHH", 0, 1, 6) + MAC_B + b"\0\0" + struct.pack("!H", proto) + payload


def sll2(proto, payload):
    return struct.pack("!HHIHBB", proto, 0, 2, 1, 4, 6) + MAC_B + b"\0\0" + payload


def null_le(af, payload):
    return struct.pack("<I", af) + payload


def loop_be(af, payload):
    return struct.pack(">I", af) + payload


LINKED = [  # (dlt, frame)
    (DLT_LINUX_SLL, sll(0x0800, IP_PACKETS["udp4-dns"])),
    (DLT_LINUX_SLL, sll(0x0806, ARP[14:])),
    (DLT_LINUX_SLL2, sll2(0x86DD, IP_PACKETS["tcp6-syn"])),
    (DLT_RAW, IP_PACKETS["icmp4-echo"]),
    (DLT_RAW, IP_PACKETS["icmp6-echo"]),
    (DLT_NULL, null_le(2, IP_PACKETS["udp4-dns"])),
    (DLT_NULL, null_le(30, IP_PACKETS["tcp6-syn"])),
    (DLT_LOOP, loop_be(24, IP_PACKETS["ip6-hopopts-udp"])),
]

# ---- capture files ----


def pcap(dlt, frames, nano=False, endian="<", snaplen=65535):
    magic = 0xA1B23C4D if nano else 0xA1B2C3D4
    out = struct.pack(endian + "IHHiIII", magic, 2, 4, 0, 0, snaplen, dlt)
    for i, f in enumerate(frames):
        frac = 123456789 if nano else 123456
        out += struct.pack(endian + "IIII", 1700000000 + i, frac, len(f), len(f)) + f
    return out


def pcapng_block(btype, body, endian="<"):
    body += b"\0" * (-len(body) % 4)
    n = 12 + len(body)
    return struct.pack(endian + "II", btype, n) + body + struct.pack(endian + "I", n)


def pcapng(interfaces, packets, endian="<"):
    """interfaces: [(dlt, tsresol or None)], packets: [(interface, frame)]"""
    out = pcapng_block(0x0A0D0D0A, struct.pack(endian + "IHHq", 0x1A2B3C4D, 1, 0, -1), endian)
    for dlt, tsresol in interfaces:
        opts = b""
        if tsresol is not None:
            opts = struct.pack(endian + "HH", 9, 1) + bytes([tsresol]) + b"\0\0\0"
            opts += struct.pack(endian + "HH", 0, 0)
        out += pcapng_block(1, struct.pack(endian + "HHI", dlt, 0, 262144) + opts, endian)
    for i, (iface, frame) in enumerate(packets):
        units = 10 ** (interfaces[iface][1] or 6)  # if_tsresol: 10^-N seconds
        ts = (1700000000 + i) * units + 250
        body = struct.pack(endian + "IIIII", iface, ts >> 32, ts & 0xFFFFFFFF, len(frame), len(frame))
        out += pcapng_block(6, body + frame, endian)
    out += pcapng_block(3, struct.pack(endian + "I", len(FRAMES["arp-request"]))
                         + FRAMES["arp-request"], endian)  # SPB
    return out


def write(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def main():
    eth_frames = list(FRAMES.values())
    # file: byte 0 = filter (low 4 bits) | StatisticsDetail (bit 4), then the file.
    files = {
        "pcap-micro-eth": pcap(DLT_EN10MB, eth_frames),
        "pcap-nano-eth": pcap(DLT_EN10MB, eth_frames[:6], nano=True),
        "pcap-bigendian-eth": pcap(DLT_EN10MB, eth_frames[6:], endian=">"),
        "pcap-snaplen-64": pcap(DLT_EN10MB, [f[:64] for f in eth_frames[:4]], snaplen=64),
        "pcapng-eth-raw": pcapng([(DLT_EN10MB, None), (DLT_RAW, 9)],
                                 [(0, FRAMES["udp4-dns"]), (1, IP_PACKETS["tcp6-syn"]),
                                  (0, FRAMES["vlan-udp4"]), (1, IP_PACKETS["icmp6-echo"])]),
        "pcapng-bigendian": pcapng([(DLT_EN10MB, 6)], [(0, f) for f in eth_frames[:5]], ">"),
        "empty-pcap": pcap(DLT_EN10MB, []),
    }
    for i, (dlt, frame) in enumerate(LINKED):
        files["pcap-dlt%d-%d" % (dlt, i)] = pcap(dlt, [frame, frame[:20]])
    for i, (name, data) in enumerate(sorted(files.items())):
        selector = (i * 5) & 15 | (0x10 if i % 2 else 0)
        write("file", name, bytes([selector]) + data)

    # decode: byte 0 picks the link type (fuzz_decode.c's table), then the packet.
    link_index = {DLT_EN10MB: 0, DLT_LINUX_SLL: 4, DLT_LINUX_SLL2: 5, DLT_RAW: 6, DLT_NULL: 9,
                  DLT_LOOP: 10}
    for name, frame in FRAMES.items():
        write("decode", "eth-" + name, bytes([link_index[DLT_EN10MB]]) + frame)
    for i, (dlt, frame) in enumerate(LINKED):
        write("decode", "dlt%d-%d" % (dlt, i), bytes([link_index[dlt]]) + frame)

    # output: options, seconds, nanoseconds, wire length, direction, name, packet.
    for i, (name, frame) in enumerate(FRAMES.items()):
        opts = (i & 3) | ((i % 3) << 2)  # --nano, -e, hex 0/1/2; link type Ethernet
        head = struct.pack("<BqIIBH", opts, 1700000000 + i, 999999999 - i, len(frame) + 4,
                           i % 3, 4)
        write("output", name, head + b"eth0" + frame)
    for i, (dlt, frame) in enumerate(LINKED):
        idx = {DLT_LINUX_SLL: 4, DLT_LINUX_SLL2: 5, DLT_RAW: 6, DLT_NULL: 9, DLT_LOOP: 10}[dlt]
        path = b"/tmp/trace \"x\"\n.pcap"
        head = struct.pack("<BqIIBH", idx << 4 | 0x8, -1 - i, 5, len(frame), 0, len(path))
        write("output", "dlt%d-%d" % (dlt, i), head + path + frame)

    # filter_config: operations (byte) and strings, NUL-separated.
    def ops(*pairs):
        return b"".join(bytes([op]) + s.encode() + b"\0" for op, s in pairs)
    write("filter_config", "idle-filters", ops((0, "tcp port 80"), (0, "udp and not port 53"),
                                                (0, "ip6 and (icmp6 or tcp)"), (0, "vlan 42 and ip")))
    write("filter_config", "idle-config", ops((1, "BuildInfo"), (1, "LicenseInfo"),
                                               (1, "NetFilterGUID={1234-abcd}"), (1, "NetFilterGUID"),
                                               (1, "ImmediateMode=True"), (1, "statisticsdetail = yes"),
                                               (1, "StatisticsDetail"), (1, "Bogus=1")))
    write("filter_config", "active", ops((0, "udp"), (2, ""), (0, "tcp"), (1, "StatisticsDetail=0"),
                                          (0, "ether proto 0x806"), (3, ""), (4, "")))
    write("filter_config", "active-bad", ops((6, "\x01"), (2, ""), (0, "tcp[100:4] = 1 and"),
                                              (5, "\x02"), (0, "inbound"), (3, ""), (0, "")))

    # writer: a format/link-type byte, then records (adapter, direction,
    # caplen LE16, extra wire bytes, seconds LE32, nanoseconds LE32, data).
    def records(frames, extra=0):
        out = b""
        for i, f in enumerate(frames):
            out += struct.pack("<BBHBII", i % 4, i % 3, len(f), extra, 1700000000 + i, i * 1000 + 7) + f
        return out
    write("writer", "pcapng-eth", b"\x01" + records(eth_frames))
    write("writer", "pcap-eth-cut", b"\x00" + records([f[:40] for f in eth_frames], extra=20))
    write("writer", "pcapng-raw", b"\x03" + records(list(IP_PACKETS.values())))
    write("writer", "pcapng-sll2", b"\x05" + records([b"\x08\x00\0\0\0\0\0\x02\0\x01\0\x06" + b"\x02" * 8
                                                      + p for p in list(IP_PACKETS.values())[:4]]))

    # cli_args: words separated by NUL.
    for name, words in {
        "capture-file": ["capture", "-r", "/nonexistent.pcap", "-c", "5", "-nXe", "--json",
                         "tcp", "port", "80"],
        "capture-live": ["capture", "-i", "eth0", "-s", "96", "-B", "1024", "-Q", "in", "--promisc",
                         "-w", "-", "-U", "--immediate-mode", "udp"],
        "capture-errors": ["capture", "-c", "0", "--count=x", "-Q", "sideways", "--nan"],
        "stats": ["stats", "-i", "lo,eth0", "-i", "eth1", "-I", "0.5", "-t", "10", "--json", "icmp"],
        "default-command": ["-t", "1", "--plain"],
        "list": ["list", "--json"],
        "help": ["help", "capture"],
        "version": ["--version"],
    }.items():
        write("cli_args", name, b"\0".join(w.encode() for w in words))


if __name__ == "__main__":
    main()
