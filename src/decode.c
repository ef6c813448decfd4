/*
 * decode.c - the library's one packet decoder, ipm_decode(), and the names
 * of what it finds (ipm_decoded_protocol_name).
 *
 * The link and network layers are walked by the stages in decode.h, the
 * same code the detailed statistics count with (ipm_decode_class), so
 * capture and statistics agree on every packet. This file adds the third
 * stage, the transport layer (TCP, UDP, UDP-Lite, SCTP, ICMP, ICMPv6:
 * ports, flags, ICMP type, payload), checking the captured length before
 * every read, and the entry point that runs all three.
 *
 * The names are here too, so that ipmon and the Python package call a
 * packet the same; they are formatted only when asked for, never while
 * decoding.
 */
#include "decode.h"

#include <stdio.h>

/* ---- transport layer (ipm_decode only) --------------------------------- */

/* The payload after a transport header of `hl` bytes at transport_offset,
 * when the IP header's length covers it. */
static void set_payload(ipm_decoded *r, int64_t l4_len, uint32_t hl)
{
    if (l4_len >= (int64_t)hl) {
        r->payload_offset = (int64_t)r->transport_offset + hl;
        r->payload_len = l4_len - hl;
    }
}

static void walk_tcp(ipm_decoded *r, const uint8_t *b, uint32_t n, int64_t l4_len)
{
    if (n >= 4) {
        r->sport = (int)rd16(b);
        r->dport = (int)rd16(b + 2);
    }
    if (n < 20) {
        r->flags |= IPM_DECODED_TRUNCATED;
        return;
    }
    r->tcp_seq = rd32(b + 4);
    r->tcp_ack = rd32(b + 8);
    r->tcp_flags = b[13];
    r->tcp_window = (int)rd16(b + 14);
    set_payload(r, l4_len, (unsigned)(b[12] >> 4) * 4);
}

/* ICMP and ICMPv6 share the header shape: type, code, checksum, then for
 * echo request and reply an identifier and a sequence number. */
static void walk_icmp(ipm_decoded *r, const uint8_t *b, uint32_t n, int v6)
{
    if (n < 4) {
        r->flags |= IPM_DECODED_TRUNCATED;
        return;
    }
    r->icmp_type = b[0];
    r->icmp_code = b[1];
    int echo = v6 ? (b[0] == 128 || b[0] == 129) : (b[0] == 0 || b[0] == 8);
    if (echo && n >= 8) {
        r->icmp_id = (int)rd16(b + 4);
        r->icmp_seq = (int)rd16(b + 6);
    }
}

/* Stage 3. `l4_len` is what the IP headers say follows them (-1 unknown). */
static void walk_transport(ipm_decoded *r, const uint8_t *d, uint32_t len, int64_t l4_len)
{
    if (r->ip_protocol < 0)
        return;
    if (r->fragment_offset > 0) {
        /* A later fragment carries no transport header. */
        if (l4_len >= 0) {
            r->payload_offset = r->transport_offset;
            r->payload_len = l4_len;
        }
        return;
    }
    const uint8_t *b = d + r->transport_offset;
    uint32_t n = len - r->transport_offset;
    switch (r->ip_protocol) {
    case 6:
        walk_tcp(r, b, n, l4_len);
        break;
    case 17:
    case 136:
        if (n < 8) {
            r->flags |= IPM_DECODED_TRUNCATED;
            break;
        }
        r->sport = (int)rd16(b);
        r->dport = (int)rd16(b + 2);
        /* UDP's own length field, where it is sane; UDP-Lite's is a coverage. */
        if (r->ip_protocol == 17 && rd16(b + 4) >= 8)
            set_payload(r, rd16(b + 4), 8);
        else
            set_payload(r, l4_len, 8);
        break;
    case 132:
        if (n < 12) {
            r->flags |= IPM_DECODED_TRUNCATED;
            break;
        }
        r->sport = (int)rd16(b);
        r->dport = (int)rd16(b + 2);
        set_payload(r, l4_len, 12);
        break;
    case 1:
    case 58:
        walk_icmp(r, b, n, r->ip_protocol == 58);
        break;
    default:
        set_payload(r, l4_len, 0);
        break;
    }
}

/* ---- entry points ------------------------------------------------------ */

/* Everything absent: the state the walk starts from. */
static void decoded_init(ipm_decoded *r, int link_type, uint32_t caplen)
{
    memset(r, 0, sizeof *r);
    r->link_type = link_type;
    r->caplen = caplen;
    r->link_protocol = r->ethertype = -1;
    r->network = IPM_NET_NONE;
    r->family = IPM_FAMILY_OTHER;
    r->llc_dsap = -1;
    r->addr_family = IPM_FAMILY_OTHER;
    r->fragment_offset = -1;
    r->arp_op = r->arp_hardware = r->arp_protocol = -1;
    r->ip_protocol = -1;
    r->protocol = IPM_PROTO_OTHER;
    r->sport = r->dport = -1;
    r->tcp_flags = r->tcp_window = -1;
    r->icmp_type = r->icmp_code = r->icmp_id = r->icmp_seq = -1;
    r->payload_offset = r->payload_len = -1;
}

int ipm_decode(int link_type, const uint8_t *data, uint32_t caplen, ipm_decoded *out)
{
    if (!out || (!data && caplen > 0))
        return IPM_E_INVALID_ARGUMENT;
    /* NULL with caplen 0 is allowed; the walks add offsets to the pointer,
     * which C leaves undefined on NULL (UBSan stops there). */
    static const uint8_t nothing[1];
    if (!data)
        data = nothing;
    int64_t l4_len = -1;
    decoded_init(out, link_type, caplen);
    walk_link(out, data, caplen, 1);
    walk_network(out, data, caplen, &l4_len, 1);
    out->protocol = protocol_class(out->ip_protocol);
    walk_transport(out, data, caplen, l4_len);
    return IPM_OK;
}

/* ---- names ------------------------------------------------------------- */

static const char *ethertype_name(int t)
{
    switch (t) {
    case 0x0800: return "IPv4";
    case 0x0806: return "ARP";
    case 0x8035: return "RARP";
    case 0x86dd: return "IPv6";
    case 0x8100: return "VLAN";
    case 0x88a8: return "QinQ";
    case 0x8847: return "MPLS";
    case 0x8848: return "MPLS-MC";
    case 0x8863: return "PPPoE-D";
    case 0x8864: return "PPPoE-S";
    case 0x888e: return "EAPOL";
    case 0x88cc: return "LLDP";
    case 0x88e5: return "MACsec";
    case 0x88f7: return "PTP";
    case 0x9000: return "LOOP";
    default: return NULL;
    }
}

static const char *ipproto_name(int p)
{
    switch (p) {
    case 1: return "ICMP";
    case 2: return "IGMP";
    case 4: return "IPIP";
    case 6: return "TCP";
    case 17: return "UDP";
    case 41: return "IPv6-in-IP";
    case 47: return "GRE";
    case 50: return "ESP";
    case 51: return "AH";
    case 58: return "ICMPv6";
    case 89: return "OSPF";
    case 103: return "PIM";
    case 112: return "VRRP";
    case 132: return "SCTP";
    case 136: return "UDPLite";
    default: return NULL;
    }
}

/* The link layer's own name, for a packet decoded no further than it. */
static const char *link_name(const ipm_decoded *d, char *buf)
{
    switch (d->link_type) {
    case DLT_EN10MB:
        if (d->network == IPM_NET_LLC)
            return d->llc_dsap == 0x42 ? "STP" : "LLC";
        return d->link_protocol >= 0 ? "VLAN" : "Ethernet"; /* cut inside a tag, or before */
    case DLT_LINUX_SLL:
    case DLT_LINUX_SLL2:
        if (d->network == IPM_NET_NONE)
            return "SLL";
        snprintf(buf, IPM_DECODE_NAME_LEN, "SLL-PROTO-0x%04x", (unsigned)d->link_protocol & 0xffff);
        return buf;
    case DLT_NULL:
    case DLT_LOOP:
        return "NULL";
    default:
        snprintf(buf, IPM_DECODE_NAME_LEN, "LINKTYPE-%d", d->link_type);
        return buf;
    }
}

const char *ipm_decoded_protocol_name(const ipm_decoded *d, char *buf)
{
    if (!d || !buf)
        return NULL;
    if (d->ip_protocol >= 0) {
        const char *n = ipproto_name(d->ip_protocol);
        if (n)
            return n;
        snprintf(buf, IPM_DECODE_NAME_LEN, "IP-PROTO-%d", d->ip_protocol);
        return buf;
    }
    switch (d->network) {
    case IPM_NET_IPV4: return "IPv4";
    case IPM_NET_IPV6: return "IPv6";
    case IPM_NET_ARP: return "ARP";
    default: break;
    }
    if (d->network == IPM_NET_OTHER && d->ethertype >= 0) {
        const char *n = ethertype_name(d->ethertype);
        if (n)
            return n;
        snprintf(buf, IPM_DECODE_NAME_LEN, "ETHERTYPE-0x%04x", (unsigned)d->ethertype);
        return buf;
    }
    return link_name(d, buf);
}
