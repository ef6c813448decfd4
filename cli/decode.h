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
} dec_packet;

/* The text form of what ipm_decode() found. */
void dec_packet_describe(dec_packet *p, const ipm_decoded *d);

/* ipm_decode() `len` captured bytes of link type `dlt` (a DLT_* value) and
 * describe them. Never fails: what cannot be decoded is reported by link
 * type or EtherType. */
void dec_packet_decode(dec_packet *p, int dlt, const uint8_t *data, uint32_t len);

#endif
