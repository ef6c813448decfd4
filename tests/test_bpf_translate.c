/*
 * test_bpf_translate.c - the classic-to-eBPF translator of the statistics
 * engine "kernel" (src/bpf_translate.c), judged by libpcap and the kernel.
 *
 * agree_with_libpcap: for a set of tcpdump-style filters (and every filter
 * string the test suite uses) on the link types EN10MB, LINUX_SLL,
 * LINUX_SLL2 and RAW, each compiled by libpcap optimised and unoptimised,
 * the translated program runs with BPF_PROG_TEST_RUN on every packet of a
 * corpus built here (hand-made packets plus a seeded random mix: IPv4 with
 * options and fragments, IPv6 with extension headers, VLAN and QinQ tags,
 * TCP/UDP/ICMP/ICMPv6/ARP, broadcast and multicast, truncated frames) and its
 * counter map must say "matched" for exactly the packets pcap_offline_filter
 * matches with libpcap's classic program, and count their bytes.
 * BPF_PROG_TEST_RUN builds the skb with eth_type_trans(), which pulls a
 * 14-byte Ethernet header: each packet is run behind a dummy one so the
 * program sees the frame from its first byte. Programs that read ancillary
 * data (SKF_AD_*: packet type, VLAN tag, ifindex), which neither
 * pcap_offline_filter nor a test run can represent, are left to:
 *
 * live_ancillary: on the veth pair, the translated program attached with
 * SO_ATTACH_BPF to an AF_PACKET socket and the same classic program attached
 * with SO_ATTACH_FILTER to another (the kernel's classic BPF as the judge)
 * see known traffic in both directions and on a VLAN; the map must count
 * exactly what the classic socket receives and what was sent.
 *
 * errors: untranslatable input is refused with a reason.
 *
 * Skipped (77) without root or when the kernel refuses BPF.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <pcap/pcap.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bpf_translate.h"
#include "decode.h"
#include "testutil.h"

#ifndef SO_ATTACH_BPF
#define SO_ATTACH_BPF 50
#endif
#ifndef DLT_LINUX_SLL2
#define DLT_LINUX_SLL2 276
#endif

/* ---------------- the corpus ---------------- */

#define MAX_PKT 1600
#define MAX_PKTS 3000

typedef struct pkt {
    uint8_t data[MAX_PKT + 14]; /* 14 bytes of dummy Ethernet header, then the frame */
    size_t len;                 /* of the frame */
} pkt;

static pkt *corpus;
static size_t ncorpus;

/* An L3 packet before its link header: network protocol (ethertype) and bytes. */
typedef struct l3 {
    uint16_t ethertype;
    uint8_t b[MAX_PKT];
    size_t len;
    /* Link-level facts for the link types that carry them. */
    uint8_t dst_mac[6], src_mac[6];
    uint16_t vlan[2]; /* tags (VID | PCP), 0 = none */
    int nvlan;
    uint16_t pkttype; /* LINUX_SLL/SLL2 packet type */
    uint32_t ifindex; /* LINUX_SLL2 */
} l3;

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint32_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 11);
}
static uint32_t pick(const uint32_t *v, size_t n) { return v[rnd() % n]; }

static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static void put32(uint8_t *p, uint32_t v) { put16(p, (uint16_t)(v >> 16)); put16(p + 2, (uint16_t)v); }

static const uint32_t HOSTS4[] = {0x0a4d0001, 0x0a4d0002, 0xc0a80101, 0xc0a80232, 0x08080808, 0x0a000005,
                                  0xe0000001, 0xffffffff, 0x0a4d00ff};
static const uint32_t PORTS[] = {80, 443, 53, 22, 7001, 7002, 7003, 5001, 9999, 8080, 1024, 6000, 6010, 65535, 0, 123};

static const uint8_t MAC_A[6] = {0x02, 0x77, 0, 0, 0, 1}, MAC_B[6] = {0x02, 0x77, 0, 0, 0, 2};
static const uint8_t MAC_BCAST[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
static const uint8_t MAC_MCAST[6] = {0x01, 0x00, 0x5e, 0, 0, 1}, MAC_MCAST6[6] = {0x33, 0x33, 0, 0, 0, 1};

/* A transport header and payload at p (room bytes at most); returns its length. */
static size_t make_transport(uint8_t proto, uint8_t *p, size_t room, int v6)
{
    size_t payload = rnd() % 5 == 0 ? 200 + rnd() % 1000 : rnd() % 64;
    size_t len = 0;
    switch (proto) {
    case 6: /* TCP */
    {
        size_t doff = rnd() % 4 == 0 ? 8 : 5; /* with options sometimes */
        len = doff * 4 + payload;
        if (len > room)
            len = room;
        memset(p, 0, len);
        put16(p, (uint16_t)pick(PORTS, sizeof PORTS / 4));
        put16(p + 2, (uint16_t)pick(PORTS, sizeof PORTS / 4));
        put32(p + 4, rnd());
        put32(p + 8, rnd());
        if (len > 13) {
            p[12] = (uint8_t)(doff << 4);
            static const uint8_t flags[] = {0x02, 0x12, 0x10, 0x18, 0x11, 0x04, 0x14, 0x01, 0x29, 0xff, 0x00};
            p[13] = flags[rnd() % sizeof flags];
        }
        if (len >= doff * 4 + 4 && rnd() % 3 == 0)
            memcpy(p + doff * 4, "GET ", 4);
        break;
    }
    case 17: /* UDP */
        len = 8 + payload;
        if (len > room)
            len = room;
        memset(p, 0xab, len);
        put16(p, (uint16_t)pick(PORTS, sizeof PORTS / 4));
        put16(p + 2, (uint16_t)pick(PORTS, sizeof PORTS / 4));
        put16(p + 4, (uint16_t)len);
        break;
    case 1:  /* ICMP */
    case 58: /* ICMPv6 */
    {
        static const uint8_t t4[] = {0, 3, 8, 11, 5, 13};
        static const uint8_t t6[] = {128, 129, 1, 135, 136, 133};
        len = 8 + payload;
        if (len > room)
            len = room;
        memset(p, 0x11, len);
        p[0] = v6 ? t6[rnd() % sizeof t6] : t4[rnd() % sizeof t4];
        p[1] = (uint8_t)(rnd() % 4);
        break;
    }
    default:
        len = payload < room ? payload : room;
        memset(p, 0x5a, len);
    }
    (void)v6;
    return len;
}

static void random_l3(l3 *q)
{
    memset(q, 0, sizeof *q);
    static const uint8_t protos[] = {6, 6, 17, 17, 1, 47, 132};
    int kind = (int)(rnd() % 10);
    if (kind < 6) { /* IPv4 */
        q->ethertype = ETH_P_IP;
        size_t ihl = rnd() % 5 == 0 ? 6 + rnd() % 4 : 5;
        uint8_t *h = q->b;
        memset(h, 0, ihl * 4);
        h[0] = (uint8_t)(0x40 | ihl);
        h[1] = (uint8_t)(rnd() % 4 == 0 ? 0x10 : 0);
        uint8_t proto = protos[rnd() % sizeof protos];
        h[8] = (uint8_t)(1 + rnd() % 128);
        h[9] = proto;
        put32(h + 12, pick(HOSTS4, sizeof HOSTS4 / 4));
        put32(h + 16, pick(HOSTS4, sizeof HOSTS4 / 4));
        if (rnd() % 8 == 0)
            put16(h + 6, (uint16_t)(0x2000 | (rnd() % 3 == 0 ? 0 : 1 + rnd() % 100))); /* fragments */
        if (ihl > 5)
            h[20] = 0x01; /* NOP options */
        size_t t = make_transport(proto, h + ihl * 4, 1400, 0);
        q->len = ihl * 4 + t;
        put16(h + 2, (uint16_t)q->len);
    } else if (kind < 9) { /* IPv6, sometimes with extension headers */
        q->ethertype = ETH_P_IPV6;
        uint8_t *h = q->b;
        memset(h, 0, 40);
        h[0] = 0x60;
        uint8_t proto = protos[rnd() % sizeof protos];
        if (proto == 1)
            proto = 58;
        static const uint8_t addrs[][16] = {
            {0xfd, 0x77, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1},
            {0xfd, 0x77, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2},
            {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x53},
            {0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1},
            {0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9}};
        memcpy(h + 8, addrs[rnd() % 5], 16);
        memcpy(h + 24, addrs[rnd() % 5], 16);
        h[7] = 64;
        size_t off = 40;
        uint8_t *next = &h[6];
        int next_hdrs = rnd() % 3 == 0 ? (int)(1 + rnd() % 3) : 0;
        for (int i = 0; i < next_hdrs; i++) {
            static const uint8_t ext[] = {0, 43, 44, 60};
            uint8_t type = ext[rnd() % sizeof ext];
            *next = type;
            uint8_t *x = h + off;
            memset(x, 0, 8);
            if (type == 44) { /* fragment: 8 bytes, sometimes not the first */
                if (rnd() % 3 == 0)
                    put16(x + 2, (uint16_t)(8 << 3));
                off += 8;
            } else {
                x[1] = (uint8_t)(rnd() % 2); /* 8 or 16 bytes */
                memset(x + 2, 0x01, 6);
                if (x[1]) {
                    memset(x + 8, 0x01, 8);
                }
                off += 8 * (size_t)(x[1] + 1);
            }
            next = &x[0];
        }
        *next = proto;
        size_t t = make_transport(proto, h + off, 1400, 1);
        q->len = off + t;
        put16(h + 4, (uint16_t)(q->len - 40));
    } else { /* ARP */
        q->ethertype = ETH_P_ARP;
        uint8_t *h = q->b;
        put16(h, 1);
        put16(h + 2, ETH_P_IP);
        h[4] = 6;
        h[5] = 4;
        put16(h + 6, (uint16_t)(1 + rnd() % 2));
        memcpy(h + 8, MAC_A, 6);
        put32(h + 14, pick(HOSTS4, sizeof HOSTS4 / 4));
        memset(h + 18, 0, 6);
        put32(h + 24, pick(HOSTS4, sizeof HOSTS4 / 4));
        q->len = 28;
    }
    int m = (int)(rnd() % 8);
    memcpy(q->dst_mac, m == 0 ? MAC_BCAST : m == 1 ? (q->ethertype == ETH_P_IPV6 ? MAC_MCAST6 : MAC_MCAST)
                       : m < 5 ? MAC_B : MAC_A, 6);
    memcpy(q->src_mac, m < 5 ? MAC_A : MAC_B, 6);
    int v = (int)(rnd() % 8);
    q->nvlan = v == 0 ? 1 : v == 1 ? 2 : 0;
    q->vlan[0] = (uint16_t)(rnd() % 2 ? 100 : 200 + rnd() % 3);
    q->vlan[1] = (uint16_t)(rnd() % 2 ? 300 : 100);
    static const uint16_t types[] = {0, 0, 0, 4, 4, 1, 2, 3};
    q->pkttype = types[rnd() % 8];
    q->ifindex = 1 + rnd() % 4;
}

/* The frame for linktype from q into out (after the 14 dummy bytes). */
static int build_frame(int linktype, const l3 *q, pkt *out)
{
    uint8_t *f = out->data + 14;
    size_t hl = 0;
    switch (linktype) {
    case DLT_EN10MB:
        memcpy(f, q->dst_mac, 6);
        memcpy(f + 6, q->src_mac, 6);
        hl = 12;
        for (int i = 0; i < q->nvlan; i++) {
            put16(f + hl, i == 0 && q->nvlan == 2 ? 0x88a8 : ETH_P_8021Q);
            put16(f + hl + 2, q->vlan[i]);
            hl += 4;
        }
        put16(f + hl, q->ethertype);
        hl += 2;
        break;
    case DLT_LINUX_SLL:
        put16(f, q->pkttype);
        put16(f + 2, 1); /* ARPHRD_ETHER */
        put16(f + 4, 6);
        memset(f + 6, 0, 8);
        memcpy(f + 6, q->src_mac, 6);
        put16(f + 14, q->ethertype);
        hl = 16;
        break;
    case DLT_LINUX_SLL2:
        put16(f, q->ethertype);
        put16(f + 2, 0);
        put32(f + 4, q->ifindex);
        put16(f + 8, 1);
        f[10] = (uint8_t)q->pkttype;
        f[11] = 6;
        memset(f + 12, 0, 8);
        memcpy(f + 12, q->src_mac, 6);
        hl = 20;
        break;
    case DLT_RAW:
        if (q->ethertype != ETH_P_IP && q->ethertype != ETH_P_IPV6)
            return -1;
        break;
    }
    size_t len = q->len;
    if (hl + len > MAX_PKT)
        len = MAX_PKT - hl;
    memcpy(f + hl, q->b, len);
    out->len = hl + len;
    /* Truncated frames now and then: loads past the end must fail alike. */
    if (rnd() % 25 == 0 && out->len > 4)
        out->len = 1 + rnd() % (out->len - 1);
    /* The dummy Ethernet header eth_type_trans pulls: to the loopback
     * device's address (all zero) so pkt_type is PACKET_HOST; type 0x88b5
     * (local experimental), because the test run refuses IPv4 data shorter
     * than an IPv4 header, and the frame behind is not IPv4 to the kernel. */
    memset(out->data, 0, 12);
    put16(out->data + 12, 0x88b5);
    return 0;
}

static void make_corpus(int linktype, size_t n)
{
    rng_state = 0x9e3779b97f4a7c15ull; /* the same L3 mix for every link type */
    ncorpus = 0;
    while (ncorpus < n) {
        l3 q;
        random_l3(&q);
        if (build_frame(linktype, &q, &corpus[ncorpus]) == 0)
            ncorpus++;
    }
}

/* ---------------- the filters ---------------- */

static const char *const FILTERS[] = {
    /* every filter string the test suite uses (set_filter, ipmon -f) */
    "udp", "udp dst port 7001",
    "host 192.168.1.1", "host 10.77.0.2 and udp", "icmp6 and ip6[40] < 130", "ip6 and udp dst port 5001",
    "src host 192.168.1.1 and tcp port 80", "tcp port 8080", "udp and (port 5101 or port 5102 or port 5103)",
    "udp port 5000", "udp port 53", "udp port 9", "udp port 10", "udp src port 40002 or udp src port 40005",
    "udp dst port 5002", "udp port 5001", "udp dst port 7002 or udp dst port 7001", "udp dst port 7003",
    "udp dst port 7003 or udp dst port 7001", "udp port 7001", "udp dst port 5001",
    "not udp dst port 9999 and udp", "ether src 02:77:00:00:00:02 and udp",
    /* hosts, nets, ports */
    "", "ip", "ip6", "arp", "tcp", "icmp", "icmp6", "host 10.77.0.1", "src host 10.77.0.2",
    "dst host 192.168.1.1", "net 10.77.0.0/24", "src net 192.168.0.0/16", "dst net 10.0.0.0 mask 255.0.0.0",
    "host fd77::1", "src net fd77::/64", "dst host ff02::1", "ip6 net 2001:db8::/32",
    "port 80", "tcp port 443", "udp port 53", "src port 22", "dst port 8080", "port 80 or port 443",
    "portrange 6000-6010", "tcp portrange 1-1024", "udp src portrange 7000-7003",
    "ip proto 47", "proto gre", "ip proto 132", "sctp", "ip6 proto 58", "ip6 and tcp", "ip6 and udp port 53",
    "ip6 and tcp dst port 80", "ip6 protochain 6", "ip protochain 17",
    /* tcp flags */
    "tcp[tcpflags] & tcp-syn != 0", "tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn",
    "tcp[13] = 0x18", "tcp[tcpflags] & tcp-rst != 0", "tcp[tcpflags] == 0xff",
    /* lengths */
    "greater 200", "less 100", "len > 1000", "len <= 64", "ip and len >= 300 and len < 900",
    /* link level */
    "ether host 02:77:00:00:00:01", "ether dst 02:77:00:00:00:02", "ether broadcast", "ether multicast",
    "broadcast", "multicast", "ip broadcast", "ip multicast", "ip6 multicast", "ether proto 0x0806",
    "ether src 02:77:00:00:00:01 and not ether dst ff:ff:ff:ff:ff:ff",
    /* icmp types */
    "icmp[icmptype] == icmp-echo", "icmp[icmptype] == icmp-echoreply", "icmp[0] = 3 and icmp[1] = 1",
    "icmp6 and ip6[40] = 128", "icmp6[icmp6type] == icmp6-echoreply",
    /* arithmetic and payload offsets */
    "ip[2:2] > 100", "ip[8] < 64", "ip[0] & 0xf > 5", "ip[6:2] & 0x1fff != 0", "ip[6:2] & 0x1fff = 0 and udp",
    "tcp[((tcp[12]&0xf0)>>2):4] = 0x47455420", "udp[4:2] - 8 > 50", "ip[2:2] * 2 > 1000",
    "ip[2:2] / 4 > 100", "ip[2:2] % 7 = 3", "ip[8] / (ip[0] & 0) = 0", "ip[9] ^ 0x11 = 0", "ip[2:2] << 1 > 600",
    "ip[2:2] >> 3 < 10", "ip[9] | 0x10 = 0x11", "-ip[8] & 0xff > 200", "tcp[0:2] + tcp[2:2] > 10000",
    "udp[0:4] = 0x1b591b59", "ip[12:4] = 0x0a4d0001 or ip[16:4] = 0x0a4d0002", "ip[1] & 0xfc = 0x10",
    /* vlan (in the packet: these programs are compiled without a live handle) */
    "vlan", "vlan 100", "vlan and udp", "vlan 100 and vlan 300", "vlan and ip6", "not vlan",
    "ip and not vlan and (tcp or udp)", "mpls",
    /* direction, from the SLL/SLL2 headers (ancillary on the others) */
    "inbound", "outbound", "inbound and udp", "not outbound and ip6",
    "ifindex 2", "ifindex 3 and tcp",
    /* combinations */
    "(tcp or udp) and not port 53 and not port 80", "host 10.77.0.1 and (port 7001 or port 7002)",
    "ip and (icmp or (tcp and tcp[tcpflags] & tcp-fin != 0))", "not ip and not ip6",
    "tcp and (src port 80 or dst port 80) and greater 100",
};

/* tests/cli/test_filters.py's long filter: "host 10.0.0.1 or host 10.0.1.1 ..." */
static char *many_hosts(int n)
{
    size_t cap = (size_t)n * 32 + 1, len = 0;
    char *s = malloc(cap);
    if (!s)
        return NULL;
    s[0] = '\0';
    for (int i = 0; i < n; i++)
        len += (size_t)snprintf(s + len, cap - len, "%shost 10.%d.%d.1", i ? " or " : "", i / 250, i % 250);
    return s;
}

/* Does the program read ancillary data? */
static int has_ancillary(const struct bpf_program *p)
{
    for (unsigned i = 0; i < p->bf_len; i++) {
        const struct bpf_insn *c = &p->bf_insns[i];
        if (BPF_CLASS(c->code) == BPF_LD && BPF_MODE(c->code) == BPF_ABS && c->k >= 0xfffff000u)
            return 1;
    }
    return 0;
}

static void skip_without_bpf(int map_fd, const char *err)
{
    if (map_fd < 0) {
        printf("SKIP: BPF not available: %s\n", err);
        fflush(stdout);
        exit(77);
    }
}

static void t_agree_with_libpcap(void)
{
    char err[512];
    int map = ipm_bpf_counter_map_create(err, sizeof err);
    skip_without_bpf(map, err);
    corpus = calloc(MAX_PKTS, sizeof *corpus);
    CHECK(corpus != NULL);
    if (!corpus)
        return;

    static const int LINKTYPES[] = {DLT_EN10MB, DLT_LINUX_SLL, DLT_LINUX_SLL2, DLT_RAW};
    static const char *const LNAMES[] = {"EN10MB", "LINUX_SLL", "LINUX_SLL2", "RAW"};
    size_t nfixed = sizeof FILTERS / sizeof FILTERS[0], nfilters = nfixed + 2;
    char *long_filters[2] = {many_hosts(100), many_hosts(800)};
    CHECK(long_filters[0] && long_filters[1]);
    unsigned long long compared = 0, programs = 0, matched_total = 0, disagreements = 0;
    unsigned not_compiled = 0, ancillary = 0, refused = 0;
    unsigned long long classified = 0;
    for (size_t l = 0; l < 4; l++) {
        make_corpus(LINKTYPES[l], 1500);
        pcap_t *dead = pcap_open_dead(LINKTYPES[l], 65535);
        CHECK(dead != NULL);
        if (!dead)
            break;
        for (size_t fi = 0; fi < nfilters; fi++) {
            const char *filter = fi < nfixed ? FILTERS[fi] : long_filters[fi - nfixed];
            for (int optimize = 0; optimize <= 1; optimize++) {
                /* 800 hosts unoptimised is ~24,000 classic instructions; the
                 * kernel's verifier answers ENOMEM beyond ~20,000 eBPF ones.
                 * The library compiles optimised (filter.c). */
                if (fi == nfixed + 1 && optimize == 0)
                    continue;
                struct bpf_program bp;
                if (!filter || pcap_compile(dead, &bp, filter, optimize, PCAP_NETMASK_UNKNOWN) < 0) {
                    not_compiled++; /* e.g. "vlan" on RAW: libpcap's own refusal */
                    continue;
                }
                if (has_ancillary(&bp)) {
                    ancillary++;
                    pcap_freecode(&bp);
                    continue;
                }
                /* On Ethernet, as the kernel engine runs it: with the split by
                 * direction, protocol and family, checked packet by packet
                 * against decode.h on the bytes the ring engine would see. */
                ipm_bpf_tail tail = {LINKTYPES[l] == DLT_EN10MB, 96};
                int prog = ipm_bpf_counting_filter_load((const ipm_cbpf_insn *)bp.bf_insns, bp.bf_len,
                                                        map, &tail, err, sizeof err);
                if (prog < 0 && strstr(filter, "protochain") && strstr(err, "backward jump")) {
                    refused++; /* its loop: refused with the reason, as the kernel refuses it */
                    pcap_freecode(&bp);
                    continue;
                }
                if (prog < 0) {
                    t_fail(__FILE__, __LINE__, "'%.80s' on %s (optimize %d): %s", filter, LNAMES[l],
                           optimize, err);
                    pcap_freecode(&bp);
                    continue;
                }
                programs++;
                CHECK_INT(ipm_bpf_counter_reset(map), ==, 0);
                uint64_t want_packets = 0, want_bytes = 0, seen = 0;
                uint64_t seen_cells[IPM_BPF_CELLS] = {0};
                unsigned shown = 0;
                for (size_t i = 0; i < ncorpus; i++) {
                    struct pcap_pkthdr h;
                    memset(&h, 0, sizeof h);
                    h.caplen = h.len = (bpf_u_int32)corpus[i].len;
                    unsigned keep = (unsigned)pcap_offline_filter(&bp, &h, corpus[i].data + 14);
                    int classic = keep != 0;
                    uint32_t ret = 1;
                    if (ipm_bpf_test_run(prog, corpus[i].data, corpus[i].len + 14, &ret) < 0) {
                        t_fail(__FILE__, __LINE__, "BPF_PROG_TEST_RUN on %zu bytes: %s", corpus[i].len + 14,
                               strerror(errno));
                        break;
                    }
                    CHECK_INT(ret, ==, 0); /* nothing queued, ever */
                    ipm_bpf_counts c;
                    CHECK_INT(ipm_bpf_counter_read(map, &c), ==, 0);
                    int ebpf = c.packets != seen;
                    seen = c.packets;
                    if (tail.detail && classic && ebpf) {
                        uint32_t caplen = (uint32_t)corpus[i].len;
                        caplen = caplen < keep ? caplen : keep;
                        caplen = caplen < tail.snapshot ? caplen : tail.snapshot;
                        int family, protocol;
                        ipm_decode_class(DLT_EN10MB, corpus[i].data + 14, caplen, &family, &protocol);
                        /* PACKET_HOST: arrived (row direction + 1) */
                        int cell = ((IPM_PACKET_DIRECTION_INCOMING + 1) * IPM_PROTO_COUNT + protocol) *
                                       IPM_FAMILY_COUNT + family;
                        for (int k = 0; k < IPM_BPF_CELLS; k++) {
                            uint64_t want = seen_cells[k] + (k == cell);
                            if (c.cell_packets[k] != want && shown++ < 3)
                                t_fail(__FILE__, __LINE__, "'%.80s' (optimize %d), packet %zu (%zu bytes): "
                                       "cell %d counts %llu, want %llu (family %d, protocol %d)", filter,
                                       optimize, i, corpus[i].len, k, (unsigned long long)c.cell_packets[k],
                                       (unsigned long long)want, family, protocol);
                            seen_cells[k] = c.cell_packets[k];
                        }
                        classified++;
                    }
                    compared++;
                    if (classic) {
                        want_packets++;
                        want_bytes += corpus[i].len;
                    }
                    if (classic != ebpf) {
                        disagreements++;
                        if (shown++ < 3)
                            t_fail(__FILE__, __LINE__, "'%.80s' on %s (optimize %d), packet %zu (%zu bytes): libpcap %s, eBPF %s",
                                   filter, LNAMES[l], optimize, i, corpus[i].len,
                                   classic ? "matches" : "does not match", ebpf ? "matches" : "does not match");
                    }
                }
                ipm_bpf_counts total;
                CHECK_INT(ipm_bpf_counter_read(map, &total), ==, 0);
                CHECK_INT(total.packets, ==, want_packets);
                CHECK_INT(total.bytes, ==, want_bytes);
                matched_total += want_packets;
                close(prog);
                pcap_freecode(&bp);
            }
        }
        pcap_close(dead);
    }
    printf("%llu programs (%zu filters x 4 link types x optimised/not, %u not compiled by libpcap, "
           "%u with ancillary loads left to live_ancillary, %u protochain loops refused): %llu packet runs "
           "compared, %llu matched (%llu Ethernet ones classified as decode.h does), %llu disagreements\n",
           programs, nfilters, not_compiled, ancillary, refused, compared, matched_total, classified,
           disagreements);
    CHECK_INT(disagreements, ==, 0);
    CHECK(programs > 700);
    free(long_filters[0]);
    free(long_filters[1]);
    free(corpus);
    close(map);
}

/* ---------------- live: ancillary data on the veth pair ---------------- */

/* struct sock_fprog with pcap's instruction type (same layout). */
struct sock_fprog_compat {
    unsigned short len;
    struct bpf_insn *filter;
};

/* An AF_PACKET socket on ifindex in this namespace; -1 on error. */
static int packet_socket(int ifindex)
{
    int fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, htons(ETH_P_ALL));
    if (fd < 0)
        return -1;
    struct sockaddr_ll sll;
    memset(&sll, 0, sizeof sll);
    sll.sll_family = AF_PACKET;
    sll.sll_protocol = htons(ETH_P_ALL);
    sll.sll_ifindex = ifindex;
    if (bind(fd, (struct sockaddr *)&sll, sizeof sll) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Read whatever is queued on fd; returns how many packets. */
static unsigned drain(int fd)
{
    unsigned n = 0;
    char buf[2048];
    while (recv(fd, buf, sizeof buf, MSG_DONTWAIT) >= 0)
        n++;
    return n;
}

/* Send count UDP datagrams from a socket made in namespace ns to ip:port. */
static void send_udp(const char *ns, const char *ip, int port, int count)
{
    int fd = nh_socket(ns, AF_INET, SOCK_DGRAM, 0);
    CHECK(fd >= 0);
    if (fd < 0)
        return;
    struct sockaddr_in to;
    memset(&to, 0, sizeof to);
    to.sin_family = AF_INET;
    to.sin_port = htons((uint16_t)port);
    inet_pton(AF_INET, ip, &to.sin_addr);
    for (int i = 0; i < count; i++)
        CHECK(sendto(fd, "x", 1, 0, (struct sockaddr *)&to, sizeof to) == 1);
    close(fd);
}

/* Send count Ethernet frames tagged VLAN vid from a packet socket on b's veth
 * end to a: UDP to 10.77.0.1 port 7100. a's veth moves the tag from the
 * frame into skb metadata (skb_vlan_untag) before its packet sockets see
 * it, where SKF_AD_VLAN_* read it. (This kernel has no 802.1Q devices to
 * send through.) */
static void send_tagged(const nh_pair *pr, uint16_t vid, int count)
{
    int fd = nh_socket(pr->b.ns, AF_PACKET, SOCK_RAW, 0);
    CHECK(fd >= 0);
    if (fd < 0)
        return;
    struct sockaddr_ll to;
    memset(&to, 0, sizeof to);
    to.sll_family = AF_PACKET;
    to.sll_ifindex = pr->b.ifindex;
    to.sll_halen = 6;
    memcpy(to.sll_addr, MAC_A, 6);
    uint8_t f[64];
    memset(f, 0, sizeof f);
    memcpy(f, MAC_A, 6);
    memcpy(f + 6, MAC_B, 6);
    put16(f + 12, ETH_P_8021Q);
    put16(f + 14, vid);
    put16(f + 16, ETH_P_IP);
    uint8_t *ip = f + 18;
    ip[0] = 0x45;
    put16(ip + 2, 29);
    ip[8] = 64;
    ip[9] = 17;
    put32(ip + 12, 0x0a4d0002);
    put32(ip + 16, 0x0a4d0001);
    uint32_t sum = 0;
    for (int i = 0; i < 20; i += 2)
        sum += (uint32_t)(ip[i] << 8 | ip[i + 1]);
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    put16(ip + 10, (uint16_t)~sum);
    put16(ip + 20, 40000);
    put16(ip + 22, 7100);
    put16(ip + 24, 9);
    for (int i = 0; i < count; i++)
        CHECK(sendto(fd, f, 18 + 29, 0, (struct sockaddr *)&to, sizeof to) == 18 + 29);
    close(fd);
}

static void t_live_ancillary(void)
{
    nh_pair pr;
    if (nh_pair_create(&pr) < 0 || nh_enter(pr.a.ns) < 0) {
        t_fail(__FILE__, __LINE__, "namespace setup failed");
        return;
    }
    char err[512];
    int map = ipm_bpf_counter_map_create(err, sizeof err);
    skip_without_bpf(map, err);

    /* libpcap compiles for the live adapter, as the engine will: its
     * direction and VLAN tests read ancillary data. */
    char ebuf[PCAP_ERRBUF_SIZE];
    pcap_t *live = pcap_create(pr.a.ifname, ebuf);
    CHECK(live != NULL);
    if (!live)
        return;
    CHECK_INT(pcap_activate(live), ==, 0);
    struct bpf_program udp;
    CHECK_INT(pcap_compile(live, &udp, "udp", 1, PCAP_NETMASK_UNKNOWN), ==, 0);

    /* Traffic, per round: 5 datagrams a -> b (outgoing on a), 7 b -> a
     * (incoming), 4 b -> a on VLAN 100 (incoming, tagged). a's veth has
     * ifindex pr.a.ifindex (not 1, loopback's). */
    char on_a[64];
    snprintf(on_a, sizeof on_a, "udp and ifindex %d", pr.a.ifindex);
    const struct {
        const char *filter;
        unsigned want;
    } CASES_LIVE[] = {
        {on_a, 16},
        {"udp and outbound", 5},           {"udp and inbound", 11},       {"inbound and vlan", 4},
        {"vlan 100 and udp dst port 7100", 4}, {"vlan 200", 0},          {"udp and not vlan", 12},
        {"outbound and udp dst port 7000", 5}, {"inbound and udp and not vlan", 7},
        {"ifindex 1", 0}, {"vlan and ifindex 999", 0},
    };
    unsigned long long live_pkts = 0;
    for (size_t ci = 0; ci < sizeof CASES_LIVE / sizeof CASES_LIVE[0]; ci++) {
        const char *filter = CASES_LIVE[ci].filter;
        struct bpf_program bp;
        if (pcap_compile(live, &bp, filter, 1, PCAP_NETMASK_UNKNOWN) < 0) {
            t_fail(__FILE__, __LINE__, "%s: %s", filter, pcap_geterr(live));
            continue;
        }
        ipm_bpf_tail tail = {1, 96};
        int prog = ipm_bpf_counting_filter_load((const ipm_cbpf_insn *)bp.bf_insns, bp.bf_len, map, &tail,
                                                err, sizeof err);
        if (prog < 0) {
            t_fail(__FILE__, __LINE__, "%s: %s", filter, err);
            pcap_freecode(&bp);
            continue;
        }
        int counting = packet_socket(pr.a.ifindex), judge = packet_socket(pr.a.ifindex);
        int all = packet_socket(pr.a.ifindex); /* every UDP frame: says when the traffic is through */
        CHECK(counting >= 0 && judge >= 0 && all >= 0);
        struct sock_fprog_compat fall = {(unsigned short)udp.bf_len, udp.bf_insns};
        CHECK_INT(setsockopt(all, SOL_SOCKET, SO_ATTACH_FILTER, &fall, sizeof fall), ==, 0);
        CHECK_INT(setsockopt(counting, SOL_SOCKET, SO_ATTACH_BPF, &prog, sizeof prog), ==, 0);
        struct sock_fprog_compat fprog = {(unsigned short)bp.bf_len, bp.bf_insns};
        CHECK_INT(setsockopt(judge, SOL_SOCKET, SO_ATTACH_FILTER, &fprog, sizeof fprog), ==, 0);
        drain(judge);
        drain(all);
        CHECK_INT(ipm_bpf_counter_reset(map), ==, 0);

        send_udp(pr.a.ns, pr.b.ip4, 7000, 5);
        send_udp(pr.b.ns, pr.a.ip4, 7001, 7);
        send_tagged(&pr, 100, 4);

        /* Wait until all 16 datagrams have passed a's taps and both say
         * what was sent (or 3 s), then compare. */
        unsigned judged = 0, through = 0;
        ipm_bpf_counts c;
        memset(&c, 0, sizeof c);
        long long until = nh_now_ms() + 3000;
        unsigned want = CASES_LIVE[ci].want;
        do {
            through += drain(all);
            judged += drain(judge);
            CHECK_INT(ipm_bpf_counter_read(map, &c), ==, 0);
            if (through >= 16 && judged == want && c.packets == want)
                break;
            struct pollfd p = {all, POLLIN, 0};
            poll(&p, 1, 20);
        } while (nh_now_ms() < until);
        CHECK_INT(through, ==, 16);
        judged += drain(judge);
        CHECK_INT(ipm_bpf_counter_read(map, &c), ==, 0);
        CHECK_INT(drain(counting), ==, 0); /* the eBPF program queues nothing */
        if (c.packets != judged || judged != want)
            t_fail(__FILE__, __LINE__, "'%s': eBPF counted %llu, classic socket received %u, sent %u", filter,
                   (unsigned long long)c.packets, judged, want);
        /* The split: every packet in one cell, all of them UDP over IPv4;
         * the tagged ones (the adapter took the tag off) arrived. */
        uint64_t cells = 0;
        for (int k = 0; k < IPM_BPF_CELLS; k++)
            cells += c.cell_packets[k];
        CHECK_INT(cells, ==, c.packets);
        int in_udp4 = ((IPM_PACKET_DIRECTION_INCOMING + 1) * IPM_PROTO_COUNT + IPM_PROTO_UDP) * IPM_FAMILY_COUNT +
                      IPM_FAMILY_IPV4;
        int out_udp4 = ((IPM_PACKET_DIRECTION_OUTGOING + 1) * IPM_PROTO_COUNT + IPM_PROTO_UDP) * IPM_FAMILY_COUNT +
                       IPM_FAMILY_IPV4;
        CHECK_INT(c.cell_packets[in_udp4] + c.cell_packets[out_udp4], ==, c.packets);
        if (strcmp(filter, "inbound and vlan") == 0)
            CHECK_INT(c.cell_packets[in_udp4], ==, 4);
        if (strcmp(filter, "udp and outbound") == 0)
            CHECK_INT(c.cell_packets[out_udp4], ==, 5);
        live_pkts += c.packets;
        close(counting);
        close(judge);
        close(all);
        close(prog);
        pcap_freecode(&bp);
    }
    printf("%zu live filters with ancillary loads: %llu packets counted, as the classic socket and the traffic say\n",
           sizeof CASES_LIVE / sizeof CASES_LIVE[0], live_pkts);
    pcap_freecode(&udp);
    pcap_close(live);
    close(map);
}

/* ---------------- refusals ---------------- */

static void t_errors(void)
{
    char err[512];
    int map = ipm_bpf_counter_map_create(err, sizeof err);
    skip_without_bpf(map, err);
    uint64_t *insns = NULL;
    size_t n = 0;
    const ipm_bpf_tail no_detail = {0, 96};

    /* An ancillary load with no __sk_buff field (SKF_AD_HATYPE). */
    ipm_cbpf_insn hatype[] = {{BPF_LD | BPF_W | BPF_ABS, 0, 0, 0xfffff000u + 28}, {BPF_RET | BPF_A, 0, 0, 0}};
    CHECK_INT(ipm_bpf_translate(hatype, 2, map, &no_detail, &insns, &n, err, sizeof err), ==, -1);
    CHECK_CONTAINS(err, "ancillary");
    /* A jump out of the program. */
    ipm_cbpf_insn away[] = {{BPF_JMP | BPF_JEQ | BPF_K, 5, 0, 1}, {BPF_RET | BPF_K, 0, 0, 1}};
    CHECK_INT(ipm_bpf_translate(away, 2, map, &no_detail, &insns, &n, err, sizeof err), ==, -1);
    CHECK_CONTAINS(err, "cannot translate");
    /* No final return. */
    ipm_cbpf_insn noret[] = {{BPF_LD | BPF_IMM, 0, 0, 1}};
    CHECK_INT(ipm_bpf_translate(noret, 1, map, &no_detail, &insns, &n, err, sizeof err), ==, -1);
    CHECK_CONTAINS(err, "return");
    CHECK(insns == NULL);

    /* Division by an X of 0 and by K 0 are "no match", as classic BPF's
     * return 0; M[] survives loads; ret A of 0 is no match. */
    uint8_t frame[14 + 60];
    memset(frame, 0, sizeof frame);
    frame[12] = 0x88;
    frame[13] = 0xb5;
    frame[14] = 9;
    ipm_cbpf_insn divx[] = {{BPF_LD | BPF_B | BPF_ABS, 0, 0, 0}, {BPF_LDX | BPF_IMM, 0, 0, 0},
                            {BPF_ALU | BPF_DIV | BPF_X, 0, 0, 0}, {BPF_RET | BPF_K, 0, 0, 1}};
    ipm_cbpf_insn divk[] = {{BPF_LD | BPF_B | BPF_ABS, 0, 0, 0}, {BPF_ALU | BPF_MOD | BPF_K, 0, 0, 0},
                            {BPF_RET | BPF_K, 0, 0, 1}};
    ipm_cbpf_insn mem[] = {{BPF_LD | BPF_B | BPF_ABS, 0, 0, 0}, {BPF_ST, 0, 0, 15},
                           {BPF_LD | BPF_IMM, 0, 0, 0},        {BPF_LDX | BPF_MEM, 0, 0, 15},
                           {BPF_MISC | BPF_TXA, 0, 0, 0},      {BPF_JMP | BPF_JEQ | BPF_K, 0, 1, 9},
                           {BPF_RET | BPF_A, 0, 0, 0},         {BPF_RET | BPF_K, 0, 0, 0}};
    ipm_cbpf_insn reta0[] = {{BPF_LD | BPF_IMM, 0, 0, 0}, {BPF_RET | BPF_A, 0, 0, 0}};
    struct {
        ipm_cbpf_insn *p;
        size_t n;
        uint64_t want;
    } runs[] = {{divx, 4, 0}, {divk, 3, 0}, {mem, 8, 1}, {reta0, 2, 0}};
    for (size_t r = 0; r < sizeof runs / sizeof runs[0]; r++) {
        ipm_bpf_tail tail = {0, 96};
        int prog = ipm_bpf_counting_filter_load(runs[r].p, runs[r].n, map, &tail, err, sizeof err);
        CHECK(prog >= 0);
        if (prog < 0) {
            printf("run %zu: %s\n", r, err);
            continue;
        }
        CHECK_INT(ipm_bpf_counter_reset(map), ==, 0);
        uint32_t ret = 1;
        CHECK_INT(ipm_bpf_test_run(prog, frame, sizeof frame, &ret), ==, 0);
        CHECK_INT(ret, ==, 0);
        ipm_bpf_counts c;
        CHECK_INT(ipm_bpf_counter_read(map, &c), ==, 0);
        CHECK_INT(c.packets, ==, runs[r].want);
        CHECK_INT(c.bytes, ==, runs[r].want * (sizeof frame - 14));
        close(prog);
    }
    close(map);
}

/* Run by t_loads_without_perfmon under capsh: every Ethernet filter of
 * FILTERS, with and without detail, loads with CAP_BPF alone. Without
 * CAP_PERFMON the verifier masks pointer arithmetic against Spectre v1 and
 * refuses what root's verifier accepts (the detail tail once added an
 * offset whose bounds differed by path). */
static int loads_unprivileged_child(void)
{
    char err[512];
    int map = ipm_bpf_counter_map_create(err, sizeof err);
    if (map < 0) {
        t_fail(__FILE__, __LINE__, "the counter map with CAP_BPF alone: %s", err);
        return 1;
    }
    pcap_t *dead = pcap_open_dead(DLT_EN10MB, 65535);
    REQUIRE(dead != NULL);
    unsigned loaded = 0;
    for (size_t fi = 0; fi < sizeof FILTERS / sizeof FILTERS[0]; fi++) {
        struct bpf_program bp;
        if (pcap_compile(dead, &bp, FILTERS[fi], 1, PCAP_NETMASK_UNKNOWN) < 0)
            continue;
        for (int detail = 0; detail <= 1; detail++) {
            ipm_bpf_tail tail = {detail, 96};
            int prog = ipm_bpf_counting_filter_load((const ipm_cbpf_insn *)bp.bf_insns, bp.bf_len, map, &tail,
                                                    err, sizeof err);
            if (prog < 0 && strstr(err, "backward jump"))
                continue; /* protochain: refused by the translator, with or without privilege */
            if (prog < 0)
                t_fail(__FILE__, __LINE__, "'%.80s' (detail %d) with CAP_BPF alone: %s", FILTERS[fi], detail, err);
            else
                loaded++, close(prog);
        }
        pcap_freecode(&bp);
    }
    printf("loaded %u programs with CAP_BPF and without CAP_PERFMON or CAP_SYS_ADMIN\n", loaded);
    CHECK_INT(loaded, >, 100);
    pcap_close(dead);
    close(map);
    return t_failures ? 1 : 0;
}

static void t_loads_without_perfmon(void)
{
    char self[512];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    REQUIRE(n > 0);
    self[n] = '\0';
    char err[512];
    int map = ipm_bpf_counter_map_create(err, sizeof err);
    skip_without_bpf(map, err);
    close(map);
    CHECK_INT(nh_run("capsh --drop=cap_sys_admin,cap_perfmon -- -c 'exec %s loads_unprivileged_child'", self), ==, 0);
}

static const t_case CASES[] = {
    {"agree_with_libpcap", t_agree_with_libpcap},
    {"live_ancillary", t_live_ancillary},
    {"errors", t_errors},
    {"loads_without_perfmon", t_loads_without_perfmon},
    {NULL, NULL},
};

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "loads_unprivileged_child") == 0)
        return loads_unprivileged_child();
    return t_main(argc, argv, CASES, 1);
}
