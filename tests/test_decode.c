/*
 * test_decode.c - ipm_decode(), the library's packet decoder, and its
 * agreement with the detailed statistics.
 *
 * Packets of every kind the decoder knows are built here byte by byte (no
 * captures from elsewhere): each is decoded whole and its fields checked,
 * then decoded again at every shorter length from a heap buffer of exactly
 * that size, so that under AddressSanitizer a read past caplen fails the
 * test; random mutations of them do the same. At every length the
 * statistics' classifier (ipm_decode_class, src/decode.h) must give what
 * ipm_decode reports. Last, a file with a mix (an MLDv2 report behind a
 * Hop-by-Hop header, VLAN tags, IPv6 extension headers, ARP, fragments) is
 * read in statistics mode with StatisticsDetail and in capture mode: the
 * per-class counts of the first must equal those ipm_decode gives in the
 * second. Needs no root.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "decode.h" /* the library's internal ipm_decode_class */
#include "testutil.h"

/* ---------------- building packets ---------------- */

typedef struct pkt {
    uint8_t b[512];
    uint32_t n;
} pkt;

static void put(pkt *p, const void *d, size_t n)
{
    REQUIRE(p->n + n <= sizeof p->b);
    memcpy(p->b + p->n, d, n);
    p->n += (uint32_t)n;
}
static void put8(pkt *p, unsigned v) { uint8_t c = (uint8_t)v; put(p, &c, 1); }
static void put16(pkt *p, unsigned v) { put8(p, v >> 8); put8(p, v); }
static void put32(pkt *p, uint32_t v) { put16(p, v >> 16); put16(p, v & 0xffff); }
static void zeros(pkt *p, size_t n) { while (n--) put8(p, 0); }

static const uint8_t MAC_A[6] = {2, 0, 0, 0, 0, 1}, MAC_B[6] = {2, 0, 0, 0, 0, 2};
static const uint8_t IP4_A[4] = {10, 0, 0, 1}, IP4_B[4] = {10, 0, 0, 2};
static const uint8_t IP6_A[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 1};
static const uint8_t IP6_B[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 2};

static void eth(pkt *p, unsigned type)
{
    put(p, MAC_B, 6);
    put(p, MAC_A, 6);
    put16(p, type);
}

static void vlan(pkt *p, unsigned id, unsigned inner) { put16(p, id); put16(p, inner); }

/* 20-byte IPv4 header (or 24 with one option word) before `payload` bytes. */
static void ipv4(pkt *p, unsigned proto, unsigned payload, unsigned frag, int option)
{
    unsigned hl = option ? 24 : 20;
    put8(p, 0x40 | hl / 4);
    put8(p, 0);
    put16(p, hl + payload);
    put16(p, 42);
    put16(p, frag);
    put8(p, 64);
    put8(p, proto);
    put16(p, 0);
    put(p, IP4_A, 4);
    put(p, IP4_B, 4);
    if (option)
        put32(p, 0x01010100); /* NOP NOP NOP EOL */
}

static void ipv6(pkt *p, unsigned next, unsigned payload)
{
    put32(p, 0x60000000);
    put16(p, payload);
    put8(p, next);
    put8(p, 64);
    put(p, IP6_A, 16);
    put(p, IP6_B, 16);
}

/* An extension header of 8 bytes (hop-by-hop, routing, destination). */
static void ext8(pkt *p, unsigned next) { put8(p, next); put8(p, 0); zeros(p, 6); }

static void frag6(pkt *p, unsigned next, unsigned offset, int more)
{
    put8(p, next);
    put8(p, 0);
    put16(p, offset | (more ? 1 : 0));
    put32(p, 7);
}

static void udp(pkt *p, unsigned sport, unsigned dport, unsigned payload)
{
    put16(p, sport);
    put16(p, dport);
    put16(p, 8 + payload);
    put16(p, 0);
    for (unsigned i = 0; i < payload; i++)
        put8(p, 'u');
}

static void tcp(pkt *p, unsigned flags, unsigned payload)
{
    put16(p, 1000);
    put16(p, 80);
    put32(p, 7);
    put32(p, 8);
    put8(p, 5 << 4);
    put8(p, flags);
    put16(p, 512);
    put32(p, 0);
    for (unsigned i = 0; i < payload; i++)
        put8(p, 't');
}

static void icmp(pkt *p, unsigned type, unsigned code)
{
    put8(p, type);
    put8(p, code);
    put16(p, 0);
    put16(p, 77);
    put16(p, 3);
}

static void arp(pkt *p, unsigned op)
{
    put16(p, 1);
    put16(p, 0x0800);
    put8(p, 6);
    put8(p, 4);
    put16(p, op);
    put(p, MAC_A, 6);
    put(p, IP4_A, 4);
    zeros(p, 6);
    put(p, IP4_B, 4);
}

/* ---------------- the kinds ---------------- */

typedef struct expect {
    const char *what;
    int dlt;
    const char *name;     /* ipm_decoded_protocol_name */
    int family, protocol; /* statistics class */
    int ip_protocol, sport, dport, vlan0;
    int64_t payload_len;
    int fragment_offset;
    int truncated;
} expect;

/* The packets, built by `which`; also the corpus of the other cases. */
enum { N_KINDS = 26 };

static expect build(int which, pkt *p)
{
    memset(p, 0, sizeof *p);
    const int F4 = IPM_FAMILY_IPV4, F6 = IPM_FAMILY_IPV6, FO = IPM_FAMILY_OTHER;
    const int PT = IPM_PROTO_TCP, PU = IPM_PROTO_UDP, PI = IPM_PROTO_ICMP, PO = IPM_PROTO_OTHER;
    switch (which) {
    case 0:
        eth(p, 0x0800), ipv4(p, 17, 12, 0, 0), udp(p, 1234, 53, 4);
        return (expect){"udp4", DLT_EN10MB, "UDP", F4, PU, 17, 1234, 53, -1, 4, -1, 0};
    case 1:
        eth(p, 0x0800), ipv4(p, 6, 23, 0, 1), tcp(p, 0x18, 3);
        return (expect){"tcp4+option", DLT_EN10MB, "TCP", F4, PT, 6, 1000, 80, -1, 3, -1, 0};
    case 2:
        eth(p, 0x0800), ipv4(p, 1, 8, 0, 0), icmp(p, 8, 0);
        return (expect){"icmp echo", DLT_EN10MB, "ICMP", F4, PI, 1, -1, -1, -1, -1, -1, 0};
    case 3:
        eth(p, 0x86dd), ipv6(p, 17, 9), udp(p, 5353, 5353, 1);
        return (expect){"udp6", DLT_EN10MB, "UDP", F6, PU, 17, 5353, 5353, -1, 1, -1, 0};
    case 4: /* MLDv2 report: hop-by-hop (router alert) then ICMPv6 143 */
        eth(p, 0x86dd), ipv6(p, 0, 36), ext8(p, 58), icmp(p, 143, 0), zeros(p, 20);
        return (expect){"mldv2", DLT_EN10MB, "ICMPv6", F6, PI, 58, -1, -1, -1, -1, -1, 0};
    case 5: /* routing + destination options, then TCP */
        eth(p, 0x86dd), ipv6(p, 43, 36), ext8(p, 60), ext8(p, 6), tcp(p, 0x02, 0);
        return (expect){"ipv6 ext tcp", DLT_EN10MB, "TCP", F6, PT, 6, 1000, 80, -1, 0, -1, 0};
    case 6:
        eth(p, 0x86dd), ipv6(p, 44, 24), frag6(p, 17, 0, 1), udp(p, 7, 8, 8);
        return (expect){"ipv6 first fragment", DLT_EN10MB, "UDP", F6, PU, 17, 7, 8, -1, 8, 0, 0};
    case 7:
        eth(p, 0x86dd), ipv6(p, 44, 16), frag6(p, 17, 16, 0), zeros(p, 8);
        return (expect){"ipv6 later fragment", DLT_EN10MB, "UDP", F6, PU, 17, -1, -1, -1, 8, 16, 0};
    case 8:
        eth(p, 0x0800), ipv4(p, 17, 28, 0x2000, 0), udp(p, 1, 2, 20);
        return (expect){"ipv4 first fragment", DLT_EN10MB, "UDP", F4, PU, 17, 1, 2, -1, 20, 0, 0};
    case 9:
        eth(p, 0x0800), ipv4(p, 17, 24, 6, 0), zeros(p, 24);
        return (expect){"ipv4 later fragment", DLT_EN10MB, "UDP", F4, PU, 17, -1, -1, -1, 24, 48,
                        0};
    case 10:
        eth(p, 0x8100), vlan(p, 100, 0x0800), ipv4(p, 17, 8, 0, 0), udp(p, 9, 10, 0);
        return (expect){"vlan udp4", DLT_EN10MB, "UDP", F4, PU, 17, 9, 10, 100, 0, -1, 0};
    case 11:
        eth(p, 0x88a8), vlan(p, 7, 0x8100), vlan(p, 8, 0x86dd), ipv6(p, 58, 8), icmp(p, 128, 0);
        return (expect){"qinq icmp6", DLT_EN10MB, "ICMPv6", F6, PI, 58, -1, -1, 7, -1, -1, 0};
    case 12:
        eth(p, 0x0806), arp(p, 1);
        return (expect){"arp", DLT_EN10MB, "ARP", FO, PO, -1, -1, -1, -1, -1, -1, 0};
    case 13:
        eth(p, 0x0800), ipv4(p, 132, 12, 0, 0), put16(p, 3868), put16(p, 3869), zeros(p, 8);
        return (expect){"sctp", DLT_EN10MB, "SCTP", F4, PO, 132, 3868, 3869, -1, 0, -1, 0};
    case 14:
        eth(p, 0x0800), ipv4(p, 47, 4, 0, 0), zeros(p, 4);
        return (expect){"gre", DLT_EN10MB, "GRE", F4, PO, 47, -1, -1, -1, 4, -1, 0};
    case 15:
        eth(p, 0x88cc), zeros(p, 20);
        return (expect){"lldp", DLT_EN10MB, "LLDP", FO, PO, -1, -1, -1, -1, 20, -1, 0};
    case 16: /* 802.3 length field, LLC with STP's DSAP */
        eth(p, 38), put8(p, 0x42), put8(p, 0x42), put8(p, 3), zeros(p, 35);
        return (expect){"stp", DLT_EN10MB, "STP", FO, PO, -1, -1, -1, -1, 38, -1, 0};
    case 17: /* Linux cooked v1: pkttype, hatype, halen, address, protocol */
        put16(p, 0), put16(p, 1), put16(p, 6), put(p, MAC_A, 6), zeros(p, 2), put16(p, 0x0800);
        ipv4(p, 17, 8, 0, 0), udp(p, 5, 6, 0);
        return (expect){"sll udp4", DLT_LINUX_SLL, "UDP", F4, PU, 17, 5, 6, -1, 0, -1, 0};
    case 18: /* Linux cooked v2: protocol, reserved, ifindex, hatype, pkttype, halen, address */
        put16(p, 0x86dd), put16(p, 0), put32(p, 3), put16(p, 1), put8(p, 0), put8(p, 6);
        put(p, MAC_A, 6), zeros(p, 2), ipv6(p, 6, 20), tcp(p, 0x10, 0);
        return (expect){"sll2 tcp6", DLT_LINUX_SLL2, "TCP", F6, PT, 6, 1000, 80, -1, 0, -1, 0};
    case 19:
        put16(p, 0), put16(p, 1), put16(p, 6), put(p, MAC_A, 6), zeros(p, 2), put16(p, 4);
        zeros(p, 4);
        return (expect){"sll 802.2", DLT_LINUX_SLL, "SLL-PROTO-0x0004", FO, PO, -1, -1, -1, -1, 4,
                        -1, 0};
    case 20:
        ipv4(p, 17, 10, 0, 0), udp(p, 1, 2, 2);
        return (expect){"raw udp4", DLT_RAW, "UDP", F4, PU, 17, 1, 2, -1, 2, -1, 0};
    case 21:
        ipv6(p, 58, 8), icmp(p, 129, 0);
        return (expect){"ipv6 link icmp6", DLT_IPV6, "ICMPv6", F6, PI, 58, -1, -1, -1, -1, -1, 0};
    case 22: /* BSD loopback, little-endian AF_INET */
        put32(p, 0x02000000), ipv4(p, 17, 8, 0, 0), udp(p, 9, 10, 0);
        return (expect){"null udp4", DLT_NULL, "UDP", F4, PU, 17, 9, 10, -1, 0, -1, 0};
    case 23: /* OpenBSD loopback, network order, AF_INET6 = 24 */
        put32(p, 24), ipv6(p, 17, 8), udp(p, 9, 10, 0);
        return (expect){"loop udp6", DLT_LOOP, "UDP", F6, PU, 17, 9, 10, -1, 0, -1, 0};
    case 24:
        put8(p, 1), put8(p, 2), put8(p, 3);
        return (expect){"unknown link", 147, "LINKTYPE-147", FO, PO, -1, -1, -1, -1, -1, -1, 0};
    default: /* cut inside the UDP header: addresses known, ports not */
        eth(p, 0x0800), ipv4(p, 17, 8, 0, 0), put16(p, 9);
        return (expect){"cut udp", DLT_EN10MB, "UDP", F4, PU, 17, -1, -1, -1, -1, -1, 1};
    }
}

static void check_expect(const expect *e, const ipm_decoded *d)
{
    char buf[IPM_DECODE_NAME_LEN];
    printf("  %s\n", e->what);
    CHECK_STR(ipm_decoded_protocol_name(d, buf), e->name);
    CHECK_INT(d->family, ==, e->family);
    CHECK_INT(d->protocol, ==, e->protocol);
    CHECK_INT(d->ip_protocol, ==, e->ip_protocol);
    CHECK_INT(d->sport, ==, e->sport);
    CHECK_INT(d->dport, ==, e->dport);
    CHECK_INT(d->vlan_count ? d->vlan[0] : -1, ==, e->vlan0);
    CHECK_INT(d->payload_len, ==, e->payload_len);
    CHECK_INT(d->fragment_offset, ==, e->fragment_offset);
    CHECK_INT((d->flags & IPM_DECODED_TRUNCATED) != 0, ==, e->truncated);
}

static void t_kinds(void)
{
    pkt p;
    ipm_decoded d;
    for (int k = 0; k < N_KINDS; k++) {
        expect e = build(k, &p);
        CHECK_INT(ipm_decode(e.dlt, p.b, p.n, &d), ==, IPM_OK);
        check_expect(&e, &d);
    }
    /* The details of a few, field by field. */
    build(1, &p);
    ipm_decode(DLT_EN10MB, p.b, p.n, &d);
    CHECK(memcmp(d.mac_src, MAC_A, 6) == 0 && memcmp(d.mac_dst, MAC_B, 6) == 0);
    CHECK_INT(d.flags & (IPM_DECODED_MAC_SRC | IPM_DECODED_MAC_DST), ==,
              IPM_DECODED_MAC_SRC | IPM_DECODED_MAC_DST);
    CHECK_INT(d.addr_family, ==, IPM_FAMILY_IPV4);
    CHECK(memcmp(d.src, IP4_A, 4) == 0 && memcmp(d.dst, IP4_B, 4) == 0);
    CHECK_INT(d.network_offset, ==, 14);
    CHECK_INT(d.transport_offset, ==, 38);
    CHECK_INT(d.payload_offset, ==, 58);
    CHECK_INT(d.tcp_flags, ==, 0x18);
    CHECK_INT(d.tcp_seq, ==, 7);
    CHECK_INT(d.tcp_ack, ==, 8);
    CHECK_INT(d.tcp_window, ==, 512);
    CHECK_INT(d.ethertype, ==, 0x0800);
    build(2, &p);
    ipm_decode(DLT_EN10MB, p.b, p.n, &d);
    CHECK_INT(d.icmp_type, ==, 8);
    CHECK_INT(d.icmp_code, ==, 0);
    CHECK_INT(d.icmp_id, ==, 77);
    CHECK_INT(d.icmp_seq, ==, 3);
    build(5, &p);
    ipm_decode(DLT_EN10MB, p.b, p.n, &d);
    CHECK_INT(d.addr_family, ==, IPM_FAMILY_IPV6);
    CHECK(memcmp(d.src, IP6_A, 16) == 0 && memcmp(d.dst, IP6_B, 16) == 0);
    CHECK_INT(d.transport_offset, ==, 14 + 40 + 16);
    build(6, &p);
    ipm_decode(DLT_EN10MB, p.b, p.n, &d);
    CHECK(d.flags & IPM_DECODED_MORE_FRAGMENTS);
    build(11, &p);
    ipm_decode(DLT_EN10MB, p.b, p.n, &d);
    CHECK_INT(d.vlan_count, ==, 2);
    CHECK_INT(d.vlan[1], ==, 8);
    CHECK_INT(d.network_offset, ==, 22);
    build(12, &p);
    ipm_decode(DLT_EN10MB, p.b, p.n, &d);
    CHECK_INT(d.arp_op, ==, 1);
    CHECK_INT(d.addr_family, ==, IPM_FAMILY_IPV4);
    CHECK(memcmp(d.src, IP4_A, 4) == 0 && memcmp(d.dst, IP4_B, 4) == 0);
    CHECK(memcmp(d.arp_sender_mac, MAC_A, 6) == 0);
    build(16, &p);
    ipm_decode(DLT_EN10MB, p.b, p.n, &d);
    CHECK_INT(d.network, ==, IPM_NET_LLC);
    CHECK_INT(d.llc_dsap, ==, 0x42);
    CHECK_INT(d.ethertype, ==, -1);
    build(17, &p);
    ipm_decode(DLT_LINUX_SLL, p.b, p.n, &d);
    CHECK_INT(d.flags & (IPM_DECODED_MAC_SRC | IPM_DECODED_MAC_DST), ==, IPM_DECODED_MAC_SRC);
    CHECK(memcmp(d.mac_src, MAC_A, 6) == 0);
    /* Bad arguments, and no bytes at all. */
    CHECK_INT(ipm_decode(DLT_EN10MB, p.b, p.n, NULL), ==, IPM_E_INVALID_ARGUMENT);
    CHECK_INT(ipm_decode(DLT_EN10MB, NULL, 1, &d), ==, IPM_E_INVALID_ARGUMENT);
    CHECK_INT(ipm_decode(DLT_EN10MB, NULL, 0, &d), ==, IPM_OK);
    CHECK_STR(ipm_decoded_protocol_name(&d, (char[IPM_DECODE_NAME_LEN]){0}), "Ethernet");
    CHECK(d.flags & IPM_DECODED_TRUNCATED);
    CHECK(ipm_decoded_protocol_name(NULL, (char[IPM_DECODE_NAME_LEN]){0}) == NULL);
}

/* Decode `n` bytes from a heap copy of exactly that size (ASan sees a read
 * past it) and check what must hold whatever the bytes. */
static void decode_exact(int dlt, const uint8_t *bytes, uint32_t n)
{
    uint8_t *copy = malloc(n ? n : 1);
    REQUIRE(copy != NULL);
    memcpy(copy, bytes, n);
    ipm_decoded d;
    char buf[IPM_DECODE_NAME_LEN];
    CHECK_INT(ipm_decode(dlt, n ? copy : NULL, n, &d), ==, IPM_OK);
    int family, protocol;
    ipm_decode_class(dlt, copy, n, &family, &protocol);
    if (family != d.family || protocol != d.protocol)
        t_fail(__FILE__, __LINE__, "link %d, %u bytes: class %d/%d, ipm_decode %d/%d", dlt, n,
               family, protocol, d.family, d.protocol);
    const char *name = ipm_decoded_protocol_name(&d, buf);
    CHECK(name != NULL && name[0] != '\0');
    if (d.network != IPM_NET_NONE)
        CHECK_INT(d.network_offset, <=, n);
    if (d.ip_protocol >= 0)
        CHECK_INT(d.transport_offset, <=, n);
    CHECK_INT(d.vlan_count, <=, IPM_DECODE_MAX_VLANS);
    free(copy);
}

static void t_truncated(void)
{
    pkt p;
    for (int k = 0; k < N_KINDS; k++) {
        expect e = build(k, &p);
        ipm_decoded whole, cut;
        ipm_decode(e.dlt, p.b, p.n, &whole);
        for (uint32_t n = 0; n <= p.n; n++) {
            decode_exact(e.dlt, p.b, n);
            /* Cutting never invents what the whole packet does not have. */
            ipm_decode(e.dlt, p.b, n, &cut);
            if (cut.ip_protocol >= 0 && cut.network == whole.network
                && !(cut.flags & IPM_DECODED_TRUNCATED))
                CHECK_INT(cut.ip_protocol, ==, whole.ip_protocol);
        }
    }
}

static uint64_t rng = 0x9E3779B97F4A7C15ULL;
static uint32_t rnd(void)
{
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return (uint32_t)((rng * 0x2545F4914F6CDD1DULL) >> 32);
}

static void t_mutated(void)
{
    static const int links[] = {DLT_EN10MB, DLT_LINUX_SLL, DLT_LINUX_SLL2, DLT_RAW,
                                DLT_IPV4,   DLT_IPV6,      DLT_NULL,       DLT_LOOP};
    pkt p;
    for (int round = 0; round < 3000; round++) {
        expect e = build(round % N_KINDS, &p);
        for (int i = 0, flips = 1 + (int)(rnd() % 4); i < flips; i++)
            p.b[rnd() % p.n] = (uint8_t)rnd();
        /* Mostly as built, sometimes as another link type. */
        int dlt = round % 5 ? e.dlt : links[rnd() % (sizeof links / sizeof links[0])];
        for (uint32_t n = 0; n <= p.n; n++)
            decode_exact(dlt, p.b, n);
    }
}

/* ---------------- statistics and capture agree ---------------- */

static char g_file[64];

static void remove_file(void)
{
    if (g_file[0])
        unlink(g_file);
}

typedef struct classes {
    int64_t protocol[IPM_PROTO_COUNT], family[IPM_FAMILY_COUNT], packets;
} classes;

static int count_statistics(const ipm_statistics_event *e, void *user)
{
    classes *c = user;
    CHECK(e->detail);
    for (int i = 0; i < IPM_PROTO_COUNT; i++)
        c->protocol[i] += e->protocol_packets[i];
    for (int i = 0; i < IPM_FAMILY_COUNT; i++)
        c->family[i] += e->family_packets[i];
    c->packets += e->captured_packets;
    return 0;
}

static int count_decoded(const ipm_packet_event *e, void *user)
{
    classes *c = user;
    ipm_decoded d;
    CHECK_INT(ipm_decode(e->link_type, e->data, e->data_size, &d), ==, IPM_OK);
    c->protocol[d.protocol]++;
    c->family[d.family]++;
    c->packets++;
    return 0;
}

static void read_file(int mode, classes *c)
{
    ipm_monitor *m = ipm_new();
    REQUIRE(m != NULL);
    REQUIRE(ipm_config(m, "StatisticsDetail=True") != NULL);
    CHECK_OK(m, ipm_set_operation_mode(m, mode));
    if (mode == IPM_OM_STAT)
        CHECK_OK(m, ipm_set_on_statistics(m, count_statistics, c));
    else
        CHECK_OK(m, ipm_set_on_packet(m, count_decoded, c));
    CHECK_OK(m, ipm_activate(m, g_file));
    for (int i = 0; i < 100 && ipm_get_active(m); i++)
        CHECK_OK(m, ipm_do_events(m));
    ipm_free(m);
}

static void t_statistics_agree(void)
{
    snprintf(g_file, sizeof g_file, "/tmp/ipm-decode-XXXXXX");
    int fd = mkstemp(g_file);
    REQUIRE(fd >= 0);
    close(fd);
    atexit(remove_file);
    /* The Ethernet kinds, a few times each, as one file. */
    pcap_t *dead =
        pcap_open_dead_with_tstamp_precision(DLT_EN10MB, 65535, PCAP_TSTAMP_PRECISION_MICRO);
    pcap_dumper_t *w = pcap_dump_open(dead, g_file);
    REQUIRE(w != NULL);
    pkt p;
    int written = 0, mld = 0;
    for (int rep = 0; rep < 3; rep++)
        for (int k = 0; k < N_KINDS; k++) {
            expect e = build(k, &p);
            if (e.dlt != DLT_EN10MB)
                continue;
            struct pcap_pkthdr h = {.ts = {1700000000 + written, 0}, .caplen = p.n, .len = p.n};
            pcap_dump((u_char *)w, &h, p.b);
            written++;
            mld += k == 4;
        }
    pcap_dump_close(w);
    pcap_close(dead);

    classes stat = {0}, capt = {0};
    read_file(IPM_OM_STAT, &stat);
    read_file(IPM_OM_CAPTURE, &capt);
    CHECK_INT(stat.packets, ==, written);
    CHECK_INT(capt.packets, ==, written);
    for (int i = 0; i < IPM_PROTO_COUNT; i++)
        CHECK_INT(stat.protocol[i], ==, capt.protocol[i]);
    for (int i = 0; i < IPM_FAMILY_COUNT; i++)
        CHECK_INT(stat.family[i], ==, capt.family[i]);
    /* What the mix holds, so that the agreement is about something: the
     * MLDv2 reports count as ICMP (they were "other" before the decoder
     * was shared), the later fragments by their own protocol. */
    int icmp = 0, udp = 0, tcp = 0;
    for (int k = 0; k < N_KINDS; k++) {
        expect e = build(k, &p);
        if (e.dlt == DLT_EN10MB) {
            icmp += e.protocol == IPM_PROTO_ICMP;
            udp += e.protocol == IPM_PROTO_UDP;
            tcp += e.protocol == IPM_PROTO_TCP;
        }
    }
    CHECK_INT(mld, ==, 3);
    CHECK_INT(stat.protocol[IPM_PROTO_ICMP], ==, 3 * icmp);
    CHECK_INT(stat.protocol[IPM_PROTO_UDP], ==, 3 * udp);
    CHECK_INT(stat.protocol[IPM_PROTO_TCP], ==, 3 * tcp);
    CHECK_INT(icmp, ==, 3); /* echo, MLDv2, ICMPv6 behind two VLAN tags */
}

static const t_case CASES[] = {
    {"kinds", t_kinds},
    {"truncated", t_truncated},
    {"mutated", t_mutated},
    {"statistics_agree", t_statistics_agree},
    {NULL, NULL},
};

int main(int argc, char **argv)
{
    return t_main(argc, argv, CASES, 0);
}
