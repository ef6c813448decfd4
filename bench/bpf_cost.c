/*
 * bpf_cost.c - what the statistics engine "kernel" costs per packet, in
 * the kernel: the translated counting program (src/bpf_translate.c) run by
 * BPF_PROG_TEST_RUN a million times on one frame, the kernel's own average
 * in nanoseconds per run. Live figures on this shared 2-core machine move
 * by 10-20% between runs; this one is repeatable to a few ns, and it is
 * the work the engine adds to each received packet's softirq (besides the
 * packet socket's tap itself, which any capturer costs).
 *
 * Usage: bpf_cost [REPEAT]     (root or CAP_BPF)
 * Prints one line per filter x detail x frame: "filter|detail|frame|ns".
 * The filters are compiled by libpcap for Ethernet with a dead handle (no
 * `inbound`: a direction filter needs a live handle's metadata loads, which
 * cost the same as any other load).
 */
#include "bpf_translate.h"

#include <errno.h>
#include <pcap/pcap.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The kernel's average ns per run over `repeat` runs, or -1. */
static long long run_ns(int prog_fd, const uint8_t *frame, size_t len, unsigned repeat)
{
    uint32_t ns = 0;
    return ipm_bpf_test_run_timed(prog_fd, frame, len, repeat, &ns) == 0 ? (long long)ns : -1;
}

/* An Ethernet frame to this host: IPv4 + UDP to port 53 (64 bytes), or
 * IPv4 + TCP to port 80 (1400 bytes). */
static size_t make_frame(uint8_t *f, size_t len, int tcp)
{
    memset(f, 0, len);
    static const uint8_t dst[6] = {0x02, 0, 0, 0, 0, 1}, src[6] = {0x02, 0, 0, 0, 0, 2};
    memcpy(f, dst, 6);
    memcpy(f + 6, src, 6);
    f[12] = 0x08;
    uint8_t *ip = f + 14;
    size_t iplen = len - 14;
    ip[0] = 0x45;
    ip[2] = (uint8_t)(iplen >> 8);
    ip[3] = (uint8_t)iplen;
    ip[8] = 64;
    ip[9] = tcp ? 6 : 17;
    memcpy(ip + 12, (const uint8_t[]){10, 0, 0, 2, 10, 0, 0, 1}, 8);
    uint8_t *l4 = ip + 20;
    l4[0] = 0x9c, l4[1] = 0x40; /* source port 40000 */
    l4[2] = 0, l4[3] = (uint8_t)(tcp ? 80 : 53);
    if (tcp)
        l4[12] = 0x50, l4[13] = 0x10; /* data offset 5, ACK */
    else
        l4[4] = (uint8_t)((len - 34) >> 8), l4[5] = (uint8_t)(len - 34);
    return len;
}

int main(int argc, char **argv)
{
    unsigned repeat = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 10) : 1000000u;
    static const char *const filters[] = {"", "udp", "tcp port 80 or udp port 53",
                                          "ip and (tcp[tcpflags] & tcp-syn != 0 or udp port 53)"};
    char err[512];
    int map = ipm_bpf_counter_map_create(err, sizeof err);
    if (map < 0) {
        fprintf(stderr, "bpf_cost: %s\n", err);
        return 1;
    }
    pcap_t *dead = pcap_open_dead(DLT_EN10MB, 262144);
    uint8_t small[64], large[1400];
    make_frame(small, sizeof small, 0);
    make_frame(large, sizeof large, 1);
    int rc = 0;
    for (size_t i = 0; i < sizeof filters / sizeof filters[0]; i++) {
        struct bpf_program prog;
        if (pcap_compile(dead, &prog, filters[i], 1, PCAP_NETMASK_UNKNOWN) != 0) {
            fprintf(stderr, "bpf_cost: %s: %s\n", filters[i], pcap_geterr(dead));
            return 1;
        }
        for (int detail = 0; detail <= 1; detail++) {
            ipm_bpf_tail tail = {.detail = detail, .snapshot = detail ? 96 : 1};
            int fd = ipm_bpf_counting_filter_load((const ipm_cbpf_insn *)prog.bf_insns, prog.bf_len, map, &tail,
                                                  err, sizeof err);
            if (fd < 0) {
                fprintf(stderr, "bpf_cost: %s: %s\n", filters[i], err);
                rc = 1;
                continue;
            }
            long long a = run_ns(fd, small, sizeof small, repeat), b = run_ns(fd, large, sizeof large, repeat);
            if (a < 0 || b < 0) {
                fprintf(stderr, "bpf_cost: BPF_PROG_TEST_RUN: %s\n", strerror(errno));
                rc = 1;
            }
            printf("%s|%d|64|%lld\n%s|%d|1400|%lld\n", filters[i][0] ? filters[i] : "(none)", detail, a,
                   filters[i][0] ? filters[i] : "(none)", detail, b);
            close(fd);
        }
        pcap_freecode(&prog);
    }
    pcap_close(dead);
    close(map);
    return rc;
}
