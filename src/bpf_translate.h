/*
 * bpf_translate.h - the statistics engine "kernel" (issue 11), Linux only:
 * a classic BPF program (what pcap_compile makes of the user's expression)
 * translated into an eBPF socket filter that counts the packets it matches
 * (packets and bytes) in a per-CPU array map and returns 0, so nothing is
 * queued to the socket; plus the few bpf(2) calls around it (map create,
 * program load with the verifier's message, map read summed over CPUs, test
 * run).
 *
 * Built only for the linux platform (src/sources.txt); callers must not use
 * it under posix. This header deliberately includes neither <pcap.h> nor
 * <linux/bpf.h>: both define a `struct bpf_insn` (classic in pcap, eBPF in the
 * kernel headers), so the classic instruction is described here by its own
 * type with the same layout as pcap's struct bpf_insn and Linux's struct
 * sock_filter, and the eBPF instructions never leave bpf_translate.c except
 * as opaque 8-byte words.
 */
#ifndef IPM_BPF_TRANSLATE_H
#define IPM_BPF_TRANSLATE_H

#include <stddef.h>
#include <stdint.h>

#include "ipmonitor.h" /* IPM_PROTO_COUNT, IPM_FAMILY_COUNT */

/* One classic BPF instruction: the layout of pcap's struct bpf_insn and of
 * Linux's struct sock_filter, so a pcap program's bf_insns can be passed as
 * (const ipm_cbpf_insn *). */
typedef struct ipm_cbpf_insn {
    uint16_t code;
    uint8_t jt;
    uint8_t jf;
    uint32_t k;
} ipm_cbpf_insn;

/* The counters the program keeps (one per-CPU array entry), summed over
 * CPUs when read. The cells are the ring engine's joint counts
 * (ipm_interval in source.h): [direction + 1][protocol][family], direction
 * from the packet type, so row 1 stays empty. */
#define IPM_BPF_ROWS 4
#define IPM_BPF_CELLS (IPM_BPF_ROWS * IPM_PROTO_COUNT * IPM_FAMILY_COUNT)
/* The map: a per-CPU array of slots, key 0 every matched packet, key
 * 1 + cell each detail cell (so that the program reaches a cell by its key,
 * with no pointer arithmetic for the verifier to refuse). */
typedef struct ipm_bpf_slot {
    uint64_t packets, bytes;
} ipm_bpf_slot;
#define IPM_BPF_KEYS (1 + IPM_BPF_CELLS)

/* What a read of the map gives, summed over every CPU. */
typedef struct ipm_bpf_counts {
    uint64_t packets; /* packets the filter matched */
    uint64_t bytes;   /* their lengths, as the ring engine gives them (below) */
    uint64_t cell_packets[IPM_BPF_CELLS]; /* only with ipm_bpf_tail.detail */
    uint64_t cell_bytes[IPM_BPF_CELLS];
} ipm_bpf_counts;

/* What the counting tail does with a matched packet, so that the kernel
 * engine's counts are the ring engine's for the same packets. The ring
 * engine's libpcap puts a VLAN tag the adapter took off back into the
 * packet (4 more bytes of length) when the filter kept at least the 12
 * bytes before it, and hands over at most `snapshot` bytes, which the
 * classification may read. */
typedef struct ipm_bpf_tail {
    int detail;        /* also count in the cells (Ethernet link layer) */
    uint32_t snapshot; /* the ring engine's snapshot length */
} ipm_bpf_tail;

/* Translate the classic program `prog` (n instructions) into the eBPF
 * counting socket filter that updates the counter map `map_fd` (from
 * ipm_bpf_counter_map_create) as `tail` says. On success returns 0 and
 * stores a malloc'd array of *count eBPF instructions (8 bytes each; free()
 * it) in *insns. On failure (an instruction it cannot translate, a jump out
 * of the program, a program without a final return) returns -1 with a
 * one-line reason in err. Does not call the kernel. */
int ipm_bpf_translate(const ipm_cbpf_insn *prog, size_t n, int map_fd, const ipm_bpf_tail *tail,
                      uint64_t **insns, size_t *count, char *err, size_t errlen);

/* A new counter map (BPF_MAP_TYPE_PERCPU_ARRAY, one entry of
 * ipm_bpf_counts, zeroed). Returns its fd, or -1 with the reason in err
 * (which names the capability to grant when the kernel says EPERM). */
int ipm_bpf_counter_map_create(char *err, size_t errlen);

/* Translate `prog` and load it as a BPF_PROG_TYPE_SOCKET_FILTER counting into
 * map_fd. Returns the program fd, or -1 with the reason in err: the
 * translation's, or the verifier's last message. */
int ipm_bpf_counting_filter_load(const ipm_cbpf_insn *prog, size_t n, int map_fd,
                                 const ipm_bpf_tail *tail, char *err, size_t errlen);

/* Read the counters, summed over every possible CPU. 0, or -1 (errno set). */
int ipm_bpf_counter_read(int map_fd, ipm_bpf_counts *out);

/* Set the counters of every CPU back to zero. 0, or -1 (errno set). */
int ipm_bpf_counter_reset(int map_fd);

/* Run the program once with BPF_PROG_TEST_RUN on `data` (len bytes) and store
 * its return value in *retval. The kernel builds the skb for a socket filter
 * with eth_type_trans(), which takes the first 14 bytes as an Ethernet header
 * (skb->protocol from its type, pkt_type from its destination) and pulls
 * them: the program sees data from byte 14 on. 0, or -1 (errno set). */
int ipm_bpf_test_run(int prog_fd, const void *data, size_t len, uint32_t *retval);

/* The same `repeat` times in a row in the kernel; *ns is the kernel's
 * average time per run (bench/bpf_cost.c). 0, or -1 (errno set). */
int ipm_bpf_test_run_timed(int prog_fd, const void *data, size_t len, uint32_t repeat, uint32_t *ns);

#endif
