/*
 * decode.h - the walk of a packet's headers, shared by ipm_decode() and the
 * statistics (inside the library).
 *
 * ipm_decode() (include/ipmonitor.h, src/decode.c) reads every header of a
 * packet; statistics with StatisticsDetail need only the family and the
 * protocol class, per packet, on the hot path. Both run the stages below:
 *   walk_link      Ethernet (two VLAN tags), Linux cooked v1/v2, raw IP,
 *                  BSD loopback: the network protocol and where it starts
 *   walk_network   IPv4 (fragments), IPv6 (extension headers), ARP: the
 *                  addresses and the transport protocol
 * then ipm_decode() goes on to the transport (decode.c). The stages take a
 * constant `full`: ipm_decode() runs them with full = 1; ipm_decode_class()
 * (below, inlined into events.c's counting handler) with full = 0, which
 * the compiler turns into a walk that only finds the transport protocol:
 * the stores only ipm_decode reports sit behind `if (full)`, and the struct
 * they would go to is a local that is never kept. Both thus read the same
 * bytes the same way and cannot disagree. Every read is checked against the
 * captured length first.
 */
#ifndef IPM_DECODE_H
#define IPM_DECODE_H

#include "ipmonitor.h"

#include <pcap/dlt.h>
#include <stdint.h>
#include <string.h>

#define ALWAYS_INLINE static inline __attribute__((always_inline))

/* Big-endian readers: captured bytes have no alignment guarantee. */
ALWAYS_INLINE unsigned rd16(const uint8_t *b)
{
    return (unsigned)b[0] << 8 | b[1];
}

ALWAYS_INLINE uint32_t rd32(const uint8_t *b)
{
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

/* ---- link layer -------------------------------------------------------- */

ALWAYS_INLINE void set_ethertype(ipm_decoded *r, unsigned type)
{
    r->ethertype = (int)type;
    r->network = type == 0x0800   ? IPM_NET_IPV4
                 : type == 0x86dd ? IPM_NET_IPV6
                 : type == 0x0806 ? IPM_NET_ARP
                                  : IPM_NET_OTHER;
}

/* What follows the last header decoded, when only the capture bounds it. */
ALWAYS_INLINE void set_captured_payload(ipm_decoded *r, uint32_t off, uint32_t len)
{
    r->payload_offset = off;
    r->payload_len = len - off;
}

ALWAYS_INLINE int is_vlan_tpid(unsigned type)
{
    return type == 0x8100 || type == 0x88a8 || type == 0x9100;
}

ALWAYS_INLINE void walk_ethernet(ipm_decoded *r, const uint8_t *d, uint32_t len, const int full)
{
    if (len < 14) {
        r->flags |= IPM_DECODED_TRUNCATED;
        return;
    }
    if (full) {
        memcpy(r->mac_dst, d, 6);
        memcpy(r->mac_src, d + 6, 6);
        r->flags |= IPM_DECODED_MAC_SRC | IPM_DECODED_MAC_DST;
    }
    unsigned type = rd16(d + 12);
    uint32_t off = 14;
    r->link_protocol = (int)type;
    /* Untagged IP, most of the traffic: straight to the network layer (the
     * same outcome as the general way below, a few tests sooner). */
    if (__builtin_expect(type == 0x0800, 1)) {
        r->network_offset = off;
        r->ethertype = 0x0800;
        r->network = IPM_NET_IPV4;
        return;
    }
    if (__builtin_expect(type == 0x86dd, 1)) {
        r->network_offset = off;
        r->ethertype = 0x86dd;
        r->network = IPM_NET_IPV6;
        return;
    }
    for (int tags = 0; tags < IPM_DECODE_MAX_VLANS && is_vlan_tpid(type); tags++) {
        if (len < off + 4) {
            r->flags |= IPM_DECODED_TRUNCATED;
            return;
        }
        if (full)
            r->vlan[r->vlan_count++] = (uint16_t)(rd16(d + off) & 0x0fff);
        type = rd16(d + off + 2);
        off += 4;
        r->link_protocol = (int)type;
    }
    r->network_offset = off;
    if (type < 0x0600) {
        /* 802.3: a length field, then an LLC header. */
        r->network = IPM_NET_LLC;
        if (full) {
            r->llc_dsap = len > off ? d[off] : -1;
            set_captured_payload(r, off, len);
        }
        return;
    }
    set_ethertype(r, type);
    if (full && r->network == IPM_NET_OTHER)
        set_captured_payload(r, off, len);
}

/* The cooked headers carry a protocol (an EtherType from 0x0600 on) and
 * the link-layer source address. */
ALWAYS_INLINE void walk_sll(ipm_decoded *r, const uint8_t *d, uint32_t len, int v2, const int full)
{
    uint32_t hdr = v2 ? 20 : 16;
    if (len < hdr) {
        r->flags |= IPM_DECODED_TRUNCATED;
        return;
    }
    unsigned proto = v2 ? rd16(d) : rd16(d + 14);
    if (full) {
        unsigned hatype = v2 ? rd16(d + 8) : rd16(d + 2);
        unsigned halen = v2 ? d[11] : rd16(d + 4);
        if (halen == 6 && hatype != 772 /* loopback: zero MACs */) {
            memcpy(r->mac_src, v2 ? d + 12 : d + 6, 6);
            r->flags |= IPM_DECODED_MAC_SRC;
        }
    }
    r->link_protocol = (int)proto;
    r->network_offset = hdr;
    if (proto < 0x0600) {
        r->network = IPM_NET_OTHER;
        if (full)
            set_captured_payload(r, hdr, len);
        return;
    }
    set_ethertype(r, proto);
    if (full && r->network == IPM_NET_OTHER)
        set_captured_payload(r, hdr, len);
}

/* DLT_NULL holds the address family in the writer's byte order, DLT_LOOP in
 * network order; IPv6's AF_INET6 differs between BSDs (24, 28, 30). */
ALWAYS_INLINE void walk_null(ipm_decoded *r, const uint8_t *d, uint32_t len)
{
    if (len < 4) {
        r->flags |= IPM_DECODED_TRUNCATED;
        return;
    }
    uint32_t af = rd32(d);
    if ((af & 0xffff) == 0)
        af = (uint32_t)d[0] | (uint32_t)d[1] << 8; /* little-endian writer */
    if (af > 0xffff) {
        /* No address family in either byte order: a malformed header (and
         * as an int, link_protocol could even turn negative). */
        r->flags |= IPM_DECODED_TRUNCATED;
        return;
    }
    r->link_protocol = (int)af;
    r->network_offset = 4;
    r->network = af == 2                                          ? IPM_NET_IPV4
                 : af == 10 || af == 24 || af == 28 || af == 30 ? IPM_NET_IPV6
                                                                  : IPM_NET_OTHER;
}

/* Stage 1: sets network, network_offset, link_protocol, ethertype (and in
 * full mode the MACs, VLAN ids and the payload of undecoded protocols). */
ALWAYS_INLINE void walk_link(ipm_decoded *r, const uint8_t *d, uint32_t len, const int full)
{
    if (__builtin_expect(r->link_type == DLT_EN10MB, 1)) {
        walk_ethernet(r, d, len, full); /* the common case, tested first */
        return;
    }
    switch (r->link_type) {
    case DLT_LINUX_SLL:
        walk_sll(r, d, len, 0, full);
        break;
    case DLT_LINUX_SLL2:
        walk_sll(r, d, len, 1, full);
        break;
    case DLT_RAW:
    case DLT_IPV4:
    case DLT_IPV6:
        /* The version nibble decides; what is not IPv6 is read as IPv4 (and
         * found malformed if it is not). */
        r->network_offset = 0;
        r->network = len >= 1 && (d[0] >> 4) == 6 ? IPM_NET_IPV6 : IPM_NET_IPV4;
        break;
    case DLT_NULL:
    case DLT_LOOP:
        walk_null(r, d, len);
        break;
    default:
        break;
    }
}

/* ---- network layer ----------------------------------------------------- */

/* IPv4 at r->network_offset. *l4_len gets what the header says follows it
 * (-1 when its lengths disagree). Sets ip_protocol only when the whole
 * header was captured. */
ALWAYS_INLINE void walk_ipv4(ipm_decoded *r, const uint8_t *d, uint32_t len, int64_t *l4_len,
                             const int full)
{
    uint32_t off = r->network_offset;
    const uint8_t *b = d + off;
    uint32_t n = len - off;
    if (n < 20) {
        r->flags |= IPM_DECODED_TRUNCATED;
        return;
    }
    unsigned v = b[0], hl = (v & 15) * 4;
    if (full && (v >> 4) == 4) {
        r->addr_family = IPM_FAMILY_IPV4;
        memcpy(r->src, b + 12, 4);
        memcpy(r->dst, b + 16, 4);
    }
    /* Version 4 and a header length of 5 to 15 words, all captured. */
    if (v - 0x45 > 0x0a || n < hl) {
        r->flags |= IPM_DECODED_TRUNCATED;
        return;
    }
    r->ip_protocol = b[9];
    r->transport_offset = off + hl;
    if (!full)
        return;
    unsigned total = rd16(b + 2);
    *l4_len = total >= hl ? (int64_t)(total - hl) : -1;
    unsigned frag = rd16(b + 6);
    if (frag & 0x2000)
        r->flags |= IPM_DECODED_MORE_FRAGMENTS;
    if ((frag & 0x1fff) != 0 || (frag & 0x2000))
        r->fragment_offset = (int)(frag & 0x1fff) * 8;
}

ALWAYS_INLINE int is_ipv6_extension(unsigned next)
{
    /* hop-by-hop, routing, fragment, destination options, AH */
    return next == 0 || next == 43 || next == 44 || next == 60 || next == 51;
}

/* IPv6 at r->network_offset, stepping over up to 8 extension headers. A
 * chain cut by the capture leaves ip_protocol at the extension header
 * where it was cut. */
ALWAYS_INLINE void walk_ipv6(ipm_decoded *r, const uint8_t *d, uint32_t len, int64_t *l4_len,
                             const int full)
{
    uint32_t off = r->network_offset;
    const uint8_t *b = d + off;
    uint32_t n = len - off;
    if (n < 40 || (b[0] >> 4) != 6) {
        r->flags |= IPM_DECODED_TRUNCATED;
        return;
    }
    if (full) {
        r->addr_family = IPM_FAMILY_IPV6;
        memcpy(r->src, b + 8, 16);
        memcpy(r->dst, b + 24, 16);
    }
    int64_t l4 = rd16(b + 4);
    unsigned next = b[6];
    uint32_t o = 40;
    for (int hops = 0; hops < 8 && is_ipv6_extension(next); hops++) {
        if (n < o + 8) {
            r->flags |= IPM_DECODED_TRUNCATED;
            r->ip_protocol = (int)next;
            return;
        }
        uint32_t ext;
        if (next == 44) {
            unsigned fo = rd16(b + o + 2);
            ext = 8;
            if (full) {
                /* The last fragment header says (offset 0 and no more
                 * fragments: an atomic fragment, i.e. none). */
                r->flags &= ~(unsigned)IPM_DECODED_MORE_FRAGMENTS;
                r->fragment_offset = (fo & 0xfff9) ? (int)(fo & 0xfff8) : -1;
                if (fo & 1)
                    r->flags |= IPM_DECODED_MORE_FRAGMENTS;
            }
            if (fo & 0xfff8) {
                /* A later fragment: its data is not a transport header. */
                r->ip_protocol = b[o];
                r->transport_offset = off + o + ext;
                *l4_len = l4 - ext;
                return;
            }
        } else if (next == 51) {
            ext = ((uint32_t)b[o + 1] + 2) * 4;
        } else {
            ext = ((uint32_t)b[o + 1] + 1) * 8;
        }
        next = b[o];
        o += ext;
        l4 -= ext;
    }
    if (n < o) {
        r->flags |= IPM_DECODED_TRUNCATED;
        return;
    }
    r->ip_protocol = (int)next;
    r->transport_offset = off + o;
    *l4_len = l4 >= 0 ? l4 : -1;
}

static inline void walk_arp(ipm_decoded *r, const uint8_t *d, uint32_t len)
{
    const uint8_t *b = d + r->network_offset;
    uint32_t n = len - r->network_offset;
    if (n < 8) {
        r->flags |= IPM_DECODED_TRUNCATED;
        return;
    }
    r->arp_hardware = (int)rd16(b);
    r->arp_protocol = (int)rd16(b + 2);
    r->arp_op = (int)rd16(b + 6);
    if (r->arp_hardware != 1 || r->arp_protocol != 0x0800 || b[4] != 6 || b[5] != 4)
        return; /* not Ethernet/IPv4: the addresses have other sizes */
    if (n < 28) {
        r->flags |= IPM_DECODED_TRUNCATED;
        return;
    }
    memcpy(r->arp_sender_mac, b + 8, 6);
    r->addr_family = IPM_FAMILY_IPV4;
    memcpy(r->src, b + 14, 4);
    memcpy(r->dst, b + 24, 4);
}

/* Stage 2: family, and for IP the transport protocol and where it starts
 * (in full mode also the addresses, fragments and ARP). */
ALWAYS_INLINE void walk_network(ipm_decoded *r, const uint8_t *d, uint32_t len, int64_t *l4_len,
                                const int full)
{
    switch (r->network) {
    case IPM_NET_IPV4:
        r->family = IPM_FAMILY_IPV4;
        walk_ipv4(r, d, len, l4_len, full);
        break;
    case IPM_NET_IPV6:
        r->family = IPM_FAMILY_IPV6;
        walk_ipv6(r, d, len, l4_len, full);
        break;
    case IPM_NET_ARP:
        if (full)
            walk_arp(r, d, len);
        break;
    default:
        break;
    }
}

/* IPM_PROTO_* of an IP protocol number, one load per packet. The table
 * holds IPM_PROTO_OTHER ^ class, so that its zeros (every protocol not
 * named) mean IPM_PROTO_OTHER. */
static const uint8_t ipm_protocol_classes[256] = {
    [6] = IPM_PROTO_OTHER ^ IPM_PROTO_TCP, [17] = IPM_PROTO_OTHER ^ IPM_PROTO_UDP,
    [1] = IPM_PROTO_OTHER ^ IPM_PROTO_ICMP, [58] = IPM_PROTO_OTHER ^ IPM_PROTO_ICMP};

ALWAYS_INLINE int protocol_class(int ip_protocol)
{
    return ip_protocol < 0 ? IPM_PROTO_OTHER
                           : IPM_PROTO_OTHER ^ ipm_protocol_classes[ip_protocol & 255];
}

/* ---- the statistics' entry --------------------------------------------- */

/* The IPM_FAMILY_* and IPM_PROTO_* class of `caplen` bytes of link type
 * `link_type`: always what ipm_decode() puts in ipm_decoded.family and
 * .protocol for the same bytes. Reads nothing past caplen. */
ALWAYS_INLINE void ipm_decode_class(int link_type, const uint8_t *data, uint32_t caplen,
                                    int *family, int *protocol)
{
    /* Only the fields the first two stages read or write without `full`. */
    ipm_decoded r;
    int64_t l4_len = -1;
    r.link_type = link_type;
    r.flags = 0;
    r.link_protocol = r.ethertype = -1;
    r.network = IPM_NET_NONE;
    r.family = IPM_FAMILY_OTHER;
    r.ip_protocol = -1;
    walk_link(&r, data, caplen, 0);
    walk_network(&r, data, caplen, &l4_len, 0);
    *family = r.family;
    *protocol = protocol_class(r.ip_protocol);
}

#endif
