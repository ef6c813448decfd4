/*
 * decode.h - a decoded packet as ipmon shows it.
 *
 * The library's ipm_decode() finds the facts (include/ipmonitor.h); a
 * dec_packet holds them as the text a one-line summary or a JSON object
 * needs: protocol name, addresses, ports, TCP flags, payload length, VLAN
 * tag, ICMP type, a short note. Everything lands in a caller's struct with
 * fixed-size buffers: nothing is allocated, so it can run once per packet
 * on the capture path.
 */
#ifndef IPMON_DECODE_H
#define IPMON_DECODE_H

#include <stdint.h>

#include "ipmonitor.h"

/* Long enough for any IPv6 address text (INET6_ADDRSTRLEN is 46). */
#define DEC_ADDR_LEN 48

typedef struct dec_packet {
    const char *proto;       /* "TCP", "UDP", "ICMP", "ARP", ... (static or proto_buf) */
    char proto_buf[IPM_DECODE_NAME_LEN]; /* room for "IP-PROTO-132", "ETHERTYPE-0x88cc" */
    int ip_version;          /* 4, 6, or 0 when the packet is not IP */
    char src[DEC_ADDR_LEN];  /* network address (IP, else MAC), "" if none */
    char dst[DEC_ADDR_LEN];
    int sport, dport;        /* -1 when the protocol has no ports */
    char tcp_flags[12];      /* tcpdump's letters, e.g. "S." ; "" if not TCP */
    int64_t payload_len;     /* bytes after the transport header; -1 unknown */
    int vlan;                /* outermost 802.1Q VLAN id, -1 if none */
    char mac_src[18], mac_dst[18]; /* "" when the link layer has no MACs */
    int ethertype;           /* -1 when unknown */
    int ip_proto;            /* IP protocol number, -1 when not IP */
    int icmp_type, icmp_code; /* -1 when not ICMP/ICMPv6 */
    char info[128];           /* short human note: "echo request id 1 seq 2" */
    int truncated;           /* the capture ended inside a header */
    int64_t network_offset;  /* where the network header starts; -1 if none (-A) */

    /* TCP as read (tcp_bits -1 when not TCP): relative sequence numbers
     * (dec_seq_relative) rewrite `info` from these. */
    int tcp_bits, tcp_window;
    uint32_t tcp_seq, tcp_ack;
    int addr_family;               /* IPM_FAMILY_* of src_raw/dst_raw */
    uint8_t src_raw[16], dst_raw[16];

    /* -v facts in tcpdump's words, "" unless asked for (dec_packet_decode's
     * verbose) or not applicable. */
    /* "(tos 0x0, ttl 64, id 1, offset 0, flags [DF], proto TCP (6), length 60)",
     * with ", options (...)": room for 40 bytes of options as text */
    char ip_facts[512];
    char tcp_cksum[48];      /* "cksum 0x1c46 (correct)" */
    char tcp_options[192];   /* "options [mss 1460,sackOK,TS val 1 ecr 2,nop,wscale 7]" */
} dec_packet;

/* tcpdump's relative TCP sequence numbers: the first packet with ACK set of
 * a connection (or any SYN-ACK) sets the base of both directions and shows
 * absolute numbers; later ones show the distance from the base. A fixed
 * table (no allocation per packet): a connection whose slot another takes
 * starts again from absolute numbers. Zero it to start. */
#define DEC_SEQ_SLOTS 1024
typedef struct dec_seq_entry {
    uint8_t a[16], b[16];     /* the two addresses, a <= b */
    uint16_t aport, bport;
    uint8_t family, used;
    uint32_t a_base, b_base;  /* the first sequence number each side sent */
} dec_seq_entry;
typedef struct dec_seq_table {
    dec_seq_entry slot[DEC_SEQ_SLOTS];
} dec_seq_table;

/* Rewrite a TCP packet's `info` with sequence and acknowledgement numbers
 * relative to its connection's, as tcpdump does without -S. */
void dec_seq_relative(dec_seq_table *t, dec_packet *p);

/* The text form of what ipm_decode() found. */
void dec_packet_describe(dec_packet *p, const ipm_decoded *d);

/* ipm_decode() `len` captured bytes of link type `dlt` (a DLT_* value) and
 * describe them. Never fails: what cannot be decoded is reported by link
 * type or EtherType. */
void dec_packet_decode(dec_packet *p, int dlt, const uint8_t *data, uint32_t len);

/* The same, and with `verbose` (-v) also the facts tcpdump -v shows: the IP
 * header's (ip_facts), the TCP checksum and whether it is correct
 * (tcp_cksum), and the TCP options (tcp_options), read from the headers
 * ipm_decode() located. */
void dec_packet_decode_verbose(dec_packet *p, int dlt, const uint8_t *data, uint32_t len,
                               int verbose);

#endif
