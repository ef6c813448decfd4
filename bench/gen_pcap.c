/*
 * gen_pcap.c - writes the benchmarks' synthetic capture file.
 *
 * Deterministic (fixed PRNG seed, fixed start time): the same arguments give
 * the same bytes on every machine, so figures from different runs describe
 * the same workload. The default mix imitates an office uplink: IPv4 and
 * IPv6, TCP/UDP/ICMP/ARP, frames of 60 to 1514 bytes with many small ones
 * (ACKs, DNS), several hosts and ports. `--small` writes only 60-byte UDP
 * frames, for the memory run whose file must stay small on disk.
 *
 * Records are written with fwrite through a large stdio buffer rather than
 * pcap_dump: same format (classic pcap, microseconds, DLT_EN10MB), fewer
 * calls, so making a multi-million-packet file takes seconds.
 *
 * usage: gen_pcap [--small] COUNT OUTPUT.pcap
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SNAPLEN 65535
#define MAX_FRAME 1514
#define MIN_FRAME 60

/* xorshift64*: tiny, fast and identical everywhere. */
static uint64_t rng_state = 0x9E3779B97F4A7C15ULL;

static uint32_t rnd(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (uint32_t)((rng_state * 0x2545F4914F6CDD1DULL) >> 32);
}

/* A uniform integer in [lo, hi]. */
static uint32_t rnd_range(uint32_t lo, uint32_t hi)
{
    return lo + rnd() % (hi - lo + 1);
}

enum { N_HOSTS = 8 };

static const uint8_t host_mac[N_HOSTS][6] = {
    {0x02, 0x10, 0, 0, 0, 1}, {0x02, 0x10, 0, 0, 0, 2}, {0x02, 0x10, 0, 0, 0, 3},
    {0x02, 0x10, 0, 0, 0, 4}, {0x02, 0x10, 0, 0, 0, 5}, {0x02, 0x10, 0, 0, 0, 6},
    {0x02, 0x10, 0, 0, 0, 7}, {0x02, 0x10, 0, 0, 0, 0xfe}, /* the last is the router */
};
static const uint8_t host_ip4[N_HOSTS][4] = {
    {192, 168, 1, 10}, {192, 168, 1, 11}, {192, 168, 1, 12}, {192, 168, 1, 13},
    {10, 20, 0, 5},    {172, 16, 4, 2},   {93, 184, 216, 34}, {192, 168, 1, 1},
};
/* Hosts share one IPv6 prefix; the last 16 bits tell them apart. */
static const uint8_t ip6_prefix[14] = {0x20, 0x01, 0x0d, 0xb8, 0x00, 0x42, 0, 0, 0, 0, 0, 0, 0, 0};

static const uint16_t server_ports[] = {80, 443, 53, 22, 8080, 123, 5353, 3306};

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void put32le(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static uint16_t ip4_checksum(const uint8_t *h)
{
    uint32_t sum = 0;
    for (int i = 0; i < 20; i += 2)
        sum += (uint32_t)(h[i] << 8 | h[i + 1]);
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}

/* Ethernet header between two random distinct hosts; returns src/dst index. */
static void ether(uint8_t *f, int src, int dst, uint16_t type)
{
    memcpy(f, host_mac[dst], 6);
    memcpy(f + 6, host_mac[src], 6);
    put16(f + 12, type);
}

static void pick_pair(int *src, int *dst)
{
    *src = (int)rnd_range(0, N_HOSTS - 1);
    do
        *dst = (int)rnd_range(0, N_HOSTS - 1);
    while (*dst == *src);
}

/* L4 headers. Ports: one side a server port, the other ephemeral. */
static void ports(uint8_t *l4, int to_server, uint16_t server)
{
    uint16_t eph = (uint16_t)rnd_range(32768, 32768 + 63);
    put16(l4, to_server ? eph : server);
    put16(l4 + 2, to_server ? server : eph);
}

static int l4_header(uint8_t *l4, int proto, int len, int v6)
{
    int to_server = (int)(rnd() & 1);
    if (proto == 6) { /* TCP: most traffic is web */
        uint32_t r = rnd() % 100;
        uint16_t sp = r < 45 ? 80 : r < 80 ? 443 : server_ports[rnd() % 8];
        ports(l4, to_server, sp);
        put32le(l4 + 4, rnd());
        put32le(l4 + 8, rnd());
        l4[12] = 5 << 4;
        l4[13] = len <= 20 ? 0x10 : 0x18; /* ACK, or PSH|ACK with data */
        put16(l4 + 14, 64240);
        return 20;
    }
    if (proto == 17) {
        uint16_t sp = len < 300 ? 53 : (rnd() & 1) ? 443 : server_ports[rnd() % 8];
        ports(l4, to_server, sp);
        put16(l4 + 4, (uint16_t)(len + 8));
        return 8;
    }
    /* ICMP echo / ICMPv6 echo */
    l4[0] = v6 ? (to_server ? 128 : 129) : (to_server ? 8 : 0);
    put16(l4 + 4, (uint16_t)rnd());
    return 8;
}

/* Frame length for a protocol, drawn so that small frames dominate. */
static int frame_len(int proto)
{
    uint32_t r = rnd() % 100;
    if (proto == 6) {
        if (r < 55)
            return rnd_range(60, 66);      /* ACKs */
        if (r < 70)
            return MAX_FRAME;              /* full segments */
        return rnd_range(100, 1000);       /* requests, small responses */
    }
    if (proto == 17) {
        if (r < 60)
            return rnd_range(70, 300);     /* DNS and friends */
        if (r < 80)
            return rnd_range(1200, 1392);  /* QUIC */
        return rnd_range(60, 1000);
    }
    return 98; /* ping */
}

static int build_arp(uint8_t *f)
{
    int src, dst;
    pick_pair(&src, &dst);
    static const uint8_t bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    ether(f, src, dst, 0x0806);
    memcpy(f, bcast, 6);
    uint8_t *a = f + 14;
    put16(a, 1);
    put16(a + 2, 0x0800);
    a[4] = 6;
    a[5] = 4;
    put16(a + 6, 1);
    memcpy(a + 8, host_mac[src], 6);
    memcpy(a + 14, host_ip4[src], 4);
    memset(a + 18, 0, 6);
    memcpy(a + 24, host_ip4[dst], 4);
    return MIN_FRAME; /* 42 bytes padded to the minimum */
}

static int build_ip4(uint8_t *f, int proto, int len)
{
    int src, dst;
    pick_pair(&src, &dst);
    ether(f, src, dst, 0x0800);
    uint8_t *ip = f + 14;
    int ip_len = len - 14;
    int l4_len = ip_len - 20;
    ip[0] = 0x45;
    ip[1] = 0;
    put16(ip + 2, (uint16_t)ip_len);
    put16(ip + 4, (uint16_t)rnd());
    put16(ip + 6, 0x4000);
    ip[8] = 64;
    ip[9] = (uint8_t)proto;
    memcpy(ip + 12, host_ip4[src], 4);
    memcpy(ip + 16, host_ip4[dst], 4);
    l4_header(ip + 20, proto, l4_len - (proto == 6 ? 20 : 8), 0);
    put16(ip + 10, ip4_checksum(ip));
    return len;
}

static int build_ip6(uint8_t *f, int proto, int len)
{
    int src, dst;
    pick_pair(&src, &dst);
    if (len < 14 + 40 + 20)
        len = 14 + 40 + 20;
    ether(f, src, dst, 0x86dd);
    uint8_t *ip = f + 14;
    int payload = len - 14 - 40;
    ip[0] = 0x60;
    put16(ip + 4, (uint16_t)payload);
    ip[6] = (uint8_t)(proto == 1 ? 58 : proto);
    ip[7] = 64;
    memcpy(ip + 8, ip6_prefix, 14);
    put16(ip + 22, (uint16_t)(0x100 + src));
    memcpy(ip + 24, ip6_prefix, 14);
    put16(ip + 38, (uint16_t)(0x100 + dst));
    l4_header(ip + 40, proto, payload - (proto == 6 ? 20 : 8), 1);
    return len;
}

/* One frame of the default mix into f; returns its length. */
static int build_mixed(uint8_t *f)
{
    uint32_t r = rnd() % 1000;
    if (r < 10)
        return build_arp(f);
    int v6 = r >= 760; /* about a quarter IPv6 */
    uint32_t p = rnd() % 100;
    int proto = p < 68 ? 6 : p < 95 ? 17 : 1;
    int len = frame_len(proto);
    return v6 ? build_ip6(f, proto, len) : build_ip4(f, proto, len);
}

static int build_small(uint8_t *f)
{
    return build_ip4(f, 17, MIN_FRAME);
}

static int write_header(FILE *out)
{
    uint8_t h[24] = {0};
    put32le(h, 0xa1b2c3d4);
    h[4] = 2; /* version 2.4 */
    h[6] = 4;
    put32le(h + 16, SNAPLEN);
    put32le(h + 20, 1); /* DLT_EN10MB */
    return fwrite(h, sizeof h, 1, out) == 1 ? 0 : -1;
}

int main(int argc, char **argv)
{
    int small = 0;
    if (argc > 1 && strcmp(argv[1], "--small") == 0) {
        small = 1;
        argc--;
        argv++;
    }
    if (argc != 3) {
        fprintf(stderr, "usage: gen_pcap [--small] COUNT OUTPUT.pcap\n");
        return 2;
    }
    char *end;
    errno = 0;
    unsigned long long count = strtoull(argv[1], &end, 10);
    if (errno || *end || count == 0) {
        fprintf(stderr, "gen_pcap: COUNT must be a positive integer, not '%s'\n", argv[1]);
        return 2;
    }
    FILE *out = fopen(argv[2], "wb");
    if (!out) {
        fprintf(stderr, "gen_pcap: cannot create %s: %s\n", argv[2], strerror(errno));
        return 1;
    }
    static char iobuf[1 << 20];
    setvbuf(out, iobuf, _IOFBF, sizeof iobuf);
    if (write_header(out) != 0)
        goto write_error;

    uint64_t usec = 1700000000ULL * 1000000ULL; /* fixed start: 2023-11-14 */
    static uint8_t rec[16 + MAX_FRAME]; /* zeroed: payloads stay zero */
    for (unsigned long long i = 0; i < count; i++) {
        uint8_t *f = rec + 16;
        memset(f, 0, 14 + 40 + 20); /* the longest headers written */
        int len = small ? build_small(f) : build_mixed(f);
        usec += rnd_range(1, 20);
        put32le(rec, (uint32_t)(usec / 1000000));
        put32le(rec + 4, (uint32_t)(usec % 1000000));
        put32le(rec + 8, (uint32_t)len);
        put32le(rec + 12, (uint32_t)len);
        if (fwrite(rec, 16 + (size_t)len, 1, out) != 1)
            goto write_error;
    }
    if (fclose(out) != 0) {
        out = NULL;
        goto write_error;
    }
    return 0;

write_error:
    fprintf(stderr, "gen_pcap: writing %s failed: %s\n", argv[2], strerror(errno));
    if (out)
        fclose(out);
    remove(argv[2]);
    return 1;
}
