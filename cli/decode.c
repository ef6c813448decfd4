/*
 * decode.c - the packet decoder of ipmon (see decode.h).
 *
 * Walks link layer -> (VLAN) -> ARP / IPv4 / IPv6 (with extension headers)
 * -> TCP / UDP / SCTP / ICMP / ICMPv6, checking the captured length before
 * every read. Link types: Ethernet, Linux cooked v1 and v2, raw IP, BSD
 * loopback (NULL/LOOP). Anything else is named by EtherType, IP protocol
 * number or link type, so every packet still gets a line.
 */
#include "decode.h"

#include <arpa/inet.h>
#include <pcap/dlt.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

/* Big-endian readers: captured bytes have no alignment guarantee. */
static unsigned rd16(const uint8_t *b) { return (unsigned)b[0] << 8 | b[1]; }
static uint32_t rd32(const uint8_t *b)
{
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

static void fmt_mac(char out[18], const uint8_t *m)
{
    static const char hex[] = "0123456789abcdef";
    for (int i = 0; i < 6; i++) {
        out[i * 3] = hex[m[i] >> 4];
        out[i * 3 + 1] = hex[m[i] & 15];
        out[i * 3 + 2] = i < 5 ? ':' : '\0';
    }
}

static const char *ethertype_name(unsigned t)
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

static const char *icmp4_name(int t)
{
    switch (t) {
    case 0: return "echo reply";
    case 3: return "unreachable";
    case 4: return "source quench";
    case 5: return "redirect";
    case 8: return "echo request";
    case 9: return "router advertisement";
    case 10: return "router solicitation";
    case 11: return "time exceeded";
    case 12: return "parameter problem";
    case 13: return "timestamp request";
    case 14: return "timestamp reply";
    default: return NULL;
    }
}

static const char *icmp6_name(int t)
{
    switch (t) {
    case 1: return "unreachable";
    case 2: return "packet too big";
    case 3: return "time exceeded";
    case 4: return "parameter problem";
    case 128: return "echo request";
    case 129: return "echo reply";
    case 130: return "multicast listener query";
    case 131: return "multicast listener report";
    case 132: return "multicast listener done";
    case 133: return "router solicitation";
    case 134: return "router advertisement";
    case 135: return "neighbor solicitation";
    case 136: return "neighbor advertisement";
    case 137: return "redirect";
    case 143: return "multicast listener report v2";
    default: return NULL;
    }
}

static void set_proto_ethertype(dec_packet *p, unsigned t)
{
    const char *n = ethertype_name(t);
    if (n) {
        p->proto = n;
    } else {
        snprintf(p->proto_buf, sizeof p->proto_buf, "ETHERTYPE-0x%04x", t);
        p->proto = p->proto_buf;
    }
}

static void set_proto_ip(dec_packet *p, int proto)
{
    const char *n = ipproto_name(proto);
    if (n) {
        p->proto = n;
    } else {
        snprintf(p->proto_buf, sizeof p->proto_buf, "IP-PROTO-%d", proto);
        p->proto = p->proto_buf;
    }
}

/* The codes of "destination unreachable", the ICMP message met most. */
static const char *unreach_code_name(int v6, int code)
{
    if (v6) {
        static const char *const c6[] = {"no route", "administratively prohibited",
                                         "beyond scope", "address unreachable", "port unreachable"};
        return code >= 0 && code < 5 ? c6[code] : NULL;
    }
    static const char *const c4[] = {"net unreachable", "host unreachable",
                                     "protocol unreachable", "port unreachable",
                                     "fragmentation needed"};
    if (code == 13)
        return "administratively prohibited";
    return code >= 0 && code < 5 ? c4[code] : NULL;
}

/* ICMP and ICMPv6 share the header shape: type, code, checksum, id, seq. */
static void decode_icmp(dec_packet *p, const uint8_t *b, uint32_t len, int v6)
{
    if (len < 4) {
        p->truncated = 1;
        return;
    }
    p->icmp_type = b[0];
    p->icmp_code = b[1];
    const char *n = v6 ? icmp6_name(b[0]) : icmp4_name(b[0]);
    int echo = v6 ? (b[0] == 128 || b[0] == 129) : (b[0] == 0 || b[0] == 8);
    const char *uc = (v6 ? b[0] == 1 : b[0] == 3) ? unreach_code_name(v6, b[1]) : NULL;
    if (echo && len >= 8)
        snprintf(p->info, sizeof p->info, "%s id %u seq %u", n, rd16(b + 4), rd16(b + 6));
    else if (uc)
        snprintf(p->info, sizeof p->info, "unreachable: %s", uc);
    else if (n && b[1] != 0)
        snprintf(p->info, sizeof p->info, "%s code %u", n, b[1]);
    else if (n)
        snprintf(p->info, sizeof p->info, "%s", n);
    else
        snprintf(p->info, sizeof p->info, "type %u code %u", b[0], b[1]);
}

static void decode_tcp(dec_packet *p, const uint8_t *b, uint32_t len, int64_t l4_len)
{
    if (len < 20) {
        p->truncated = 1;
        if (len >= 4) {
            p->sport = (int)rd16(b);
            p->dport = (int)rd16(b + 2);
        }
        return;
    }
    p->sport = (int)rd16(b);
    p->dport = (int)rd16(b + 2);
    unsigned hl = (unsigned)(b[12] >> 4) * 4;
    unsigned f = b[13];
    static const struct { unsigned bit; char c; } flags[] = {
        {0x01, 'F'}, {0x02, 'S'}, {0x04, 'R'}, {0x08, 'P'},
        {0x10, '.'}, {0x20, 'U'}, {0x40, 'E'}, {0x80, 'W'}};
    size_t n = 0;
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++)
        if (f & flags[i].bit)
            p->tcp_flags[n++] = flags[i].c;
    if (n == 0)
        memcpy(p->tcp_flags, "none", 5);
    else
        p->tcp_flags[n] = '\0';
    if (l4_len >= 0 && l4_len >= (int64_t)hl)
        p->payload_len = l4_len - hl;
    if (f & 0x10)
        snprintf(p->info, sizeof p->info, "seq %u ack %u win %u", rd32(b + 4), rd32(b + 8),
                 rd16(b + 14));
    else
        snprintf(p->info, sizeof p->info, "seq %u win %u", rd32(b + 4), rd16(b + 14));
}

/* The transport layer: `l4_len` is what the IP header says it holds (-1 when
 * unknown); `len` what was captured of it. */
static void decode_l4(dec_packet *p, int proto, const uint8_t *b, uint32_t len, int64_t l4_len)
{
    p->ip_proto = proto;
    set_proto_ip(p, proto);
    switch (proto) {
    case 6:
        decode_tcp(p, b, len, l4_len);
        break;
    case 17:
    case 136:
        if (len < 8) {
            p->truncated = 1;
            break;
        }
        p->sport = (int)rd16(b);
        p->dport = (int)rd16(b + 2);
        if (proto == 17 && rd16(b + 4) >= 8)
            p->payload_len = rd16(b + 4) - 8;
        else if (l4_len >= 8)
            p->payload_len = l4_len - 8;
        break;
    case 132:
        if (len < 12) {
            p->truncated = 1;
            break;
        }
        p->sport = (int)rd16(b);
        p->dport = (int)rd16(b + 2);
        if (l4_len >= 12)
            p->payload_len = l4_len - 12;
        break;
    case 1:
        decode_icmp(p, b, len, 0);
        break;
    case 58:
        decode_icmp(p, b, len, 1);
        break;
    default:
        if (l4_len >= 0)
            p->payload_len = l4_len;
        break;
    }
}

static void decode_ipv4(dec_packet *p, const uint8_t *b, uint32_t len)
{
    p->proto = "IPv4";
    p->ip_version = 4;
    if (len < 20 || (b[0] >> 4) != 4) {
        p->truncated = 1;
        return;
    }
    unsigned hl = (unsigned)(b[0] & 15) * 4;
    inet_ntop(AF_INET, b + 12, p->src, sizeof p->src);
    inet_ntop(AF_INET, b + 16, p->dst, sizeof p->dst);
    if (hl < 20 || len < hl) {
        p->truncated = 1;
        return;
    }
    unsigned total = rd16(b + 2);
    int64_t l4_len = total >= hl ? (int64_t)(total - hl) : -1;
    unsigned frag = rd16(b + 6);
    unsigned offset = (frag & 0x1fff) * 8;
    if (offset != 0) {
        /* A later fragment: no transport header in it. */
        p->ip_proto = b[9];
        set_proto_ip(p, b[9]);
        p->payload_len = l4_len;
        snprintf(p->info, sizeof p->info, "fragment offset %u%s", offset,
                 (frag & 0x2000) ? " more" : "");
        return;
    }
    decode_l4(p, b[9], b + hl, len - hl, l4_len);
    if (frag & 0x2000) {
        size_t n = strlen(p->info);
        snprintf(p->info + n, sizeof p->info - n, "%sfragment offset 0 more", n ? ", " : "");
    }
}

static void decode_ipv6(dec_packet *p, const uint8_t *b, uint32_t len)
{
    p->proto = "IPv6";
    p->ip_version = 6;
    if (len < 40 || (b[0] >> 4) != 6) {
        p->truncated = 1;
        return;
    }
    inet_ntop(AF_INET6, b + 8, p->src, sizeof p->src);
    inet_ntop(AF_INET6, b + 24, p->dst, sizeof p->dst);
    int64_t l4_len = rd16(b + 4);
    int next = b[6];
    uint32_t off = 40;
    int first_fragment = 0;
    /* Skip extension headers: hop-by-hop, routing, fragment, destination. */
    for (int hops = 0; hops < 8; hops++) {
        if (next != 0 && next != 43 && next != 44 && next != 60 && next != 51)
            break;
        if (len < off + 8) {
            p->truncated = 1;
            p->ip_proto = next;
            set_proto_ip(p, next);
            return;
        }
        uint32_t ext;
        if (next == 44) {
            unsigned fo = rd16(b + off + 2);
            ext = 8;
            if ((fo & 0xfff8) != 0) {
                p->ip_proto = b[off];
                set_proto_ip(p, b[off]);
                p->payload_len = l4_len - ext;
                snprintf(p->info, sizeof p->info, "fragment offset %u%s", fo & 0xfff8,
                         (fo & 1) ? " more" : "");
                return;
            }
            first_fragment = fo & 1;
        } else if (next == 51) {
            ext = ((uint32_t)b[off + 1] + 2) * 4;
        } else {
            ext = ((uint32_t)b[off + 1] + 1) * 8;
        }
        next = b[off];
        off += ext;
        l4_len -= ext;
    }
    if (len < off) {
        p->truncated = 1;
        return;
    }
    decode_l4(p, next, b + off, len - off, l4_len >= 0 ? l4_len : -1);
    if (first_fragment) {
        size_t n = strlen(p->info);
        snprintf(p->info + n, sizeof p->info - n, "%sfragment offset 0 more", n ? ", " : "");
    }
}

static void decode_arp(dec_packet *p, const uint8_t *b, uint32_t len)
{
    p->proto = "ARP";
    if (len < 8) {
        p->truncated = 1;
        return;
    }
    unsigned htype = rd16(b), ptype = rd16(b + 2), hlen = b[4], plen = b[5], op = rd16(b + 6);
    if (htype != 1 || ptype != 0x0800 || hlen != 6 || plen != 4) {
        snprintf(p->info, sizeof p->info, "op %u htype %u ptype 0x%04x", op, htype, ptype);
        return;
    }
    if (len < 28) {
        p->truncated = 1;
        return;
    }
    inet_ntop(AF_INET, b + 14, p->src, sizeof p->src);
    inet_ntop(AF_INET, b + 24, p->dst, sizeof p->dst);
    char mac[18];
    if (op == 1) {
        snprintf(p->info, sizeof p->info, "request who-has %s tell %s", p->dst, p->src);
    } else if (op == 2) {
        fmt_mac(mac, b + 8);
        snprintf(p->info, sizeof p->info, "reply %s is-at %s", p->src, mac);
    } else {
        snprintf(p->info, sizeof p->info, "op %u", op);
    }
}

/* The network layer after an EtherType. */
static void decode_ethertype(dec_packet *p, unsigned type, const uint8_t *b, uint32_t len)
{
    p->ethertype = (int)type;
    switch (type) {
    case 0x0800:
        decode_ipv4(p, b, len);
        break;
    case 0x86dd:
        decode_ipv6(p, b, len);
        break;
    case 0x0806:
        decode_arp(p, b, len);
        break;
    default:
        set_proto_ethertype(p, type);
        if (!p->src[0] && p->mac_src[0]) {
            memcpy(p->src, p->mac_src, sizeof p->mac_src);
            memcpy(p->dst, p->mac_dst, sizeof p->mac_dst);
        }
        p->payload_len = len;
        break;
    }
}

static void decode_ethernet(dec_packet *p, const uint8_t *b, uint32_t len)
{
    p->proto = "Ethernet";
    if (len < 14) {
        p->truncated = 1;
        return;
    }
    fmt_mac(p->mac_dst, b);
    fmt_mac(p->mac_src, b + 6);
    unsigned type = rd16(b + 12);
    uint32_t off = 14;
    /* Up to two VLAN tags (802.1Q, 802.1ad); the outermost id is reported. */
    for (int tags = 0; tags < 2 && (type == 0x8100 || type == 0x88a8 || type == 0x9100); tags++) {
        if (len < off + 4) {
            p->truncated = 1;
            p->proto = "VLAN";
            return;
        }
        if (p->vlan < 0)
            p->vlan = (int)(rd16(b + off) & 0x0fff);
        type = rd16(b + off + 2);
        off += 4;
    }
    if (type < 0x0600) {
        /* 802.3 length field: an LLC frame (STP uses DSAP 0x42). */
        p->proto = (len > off && b[off] == 0x42) ? "STP" : "LLC";
        memcpy(p->src, p->mac_src, sizeof p->mac_src);
        memcpy(p->dst, p->mac_dst, sizeof p->mac_dst);
        p->payload_len = len - off;
        return;
    }
    decode_ethertype(p, type, b + off, len - off);
}

/* The cooked headers carry a protocol that is an EtherType for most link
 * types, plus the link-layer source address. */
static void decode_sll(dec_packet *p, const uint8_t *b, uint32_t len, int v2)
{
    uint32_t hdr = v2 ? 20 : 16;
    p->proto = "SLL";
    if (len < hdr) {
        p->truncated = 1;
        return;
    }
    unsigned proto = v2 ? rd16(b) : rd16(b + 14);
    unsigned hatype = v2 ? rd16(b + 8) : rd16(b + 2);
    unsigned halen = v2 ? b[11] : rd16(b + 4);
    const uint8_t *addr = v2 ? b + 12 : b + 6;
    if (halen == 6 && hatype != 772 /* loopback: zero MACs */)
        fmt_mac(p->mac_src, addr);
    if (proto < 0x0600) {
        snprintf(p->proto_buf, sizeof p->proto_buf, "SLL-PROTO-0x%04x", proto);
        p->proto = p->proto_buf;
        p->payload_len = len - hdr;
        return;
    }
    decode_ethertype(p, proto, b + hdr, len - hdr);
}

static void decode_raw(dec_packet *p, const uint8_t *b, uint32_t len)
{
    if (len >= 1 && (b[0] >> 4) == 6)
        decode_ipv6(p, b, len);
    else
        decode_ipv4(p, b, len);
}

/* DLT_NULL holds the address family in the writer's byte order, DLT_LOOP in
 * network order; IPv6's AF_INET6 differs between BSDs (24, 28, 30). */
static void decode_null(dec_packet *p, const uint8_t *b, uint32_t len)
{
    p->proto = "NULL";
    if (len < 4) {
        p->truncated = 1;
        return;
    }
    uint32_t af = rd32(b);
    if ((af & 0xffff) == 0)
        af = (uint32_t)b[0] | (uint32_t)b[1] << 8; /* little-endian writer */
    if (af == 2)
        decode_ipv4(p, b + 4, len - 4);
    else if (af == 10 || af == 24 || af == 28 || af == 30)
        decode_ipv6(p, b + 4, len - 4);
    else
        snprintf(p->info, sizeof p->info, "address family %u", af);
}

void dec_packet_decode(dec_packet *p, int dlt, const uint8_t *data, uint32_t len)
{
    p->proto = "?";
    p->proto_buf[0] = '\0';
    p->ip_version = 0;
    p->src[0] = p->dst[0] = '\0';
    p->sport = p->dport = -1;
    p->tcp_flags[0] = '\0';
    p->payload_len = -1;
    p->vlan = -1;
    p->mac_src[0] = p->mac_dst[0] = '\0';
    p->ethertype = -1;
    p->ip_proto = -1;
    p->icmp_type = p->icmp_code = -1;
    p->info[0] = '\0';
    p->truncated = 0;

    switch (dlt) {
    case DLT_EN10MB:
        decode_ethernet(p, data, len);
        break;
    case DLT_LINUX_SLL:
        decode_sll(p, data, len, 0);
        break;
    case DLT_LINUX_SLL2:
        decode_sll(p, data, len, 1);
        break;
    case DLT_RAW:
    case DLT_IPV4:
    case DLT_IPV6:
        decode_raw(p, data, len);
        break;
    case DLT_NULL:
    case DLT_LOOP:
        decode_null(p, data, len);
        break;
    default:
        snprintf(p->proto_buf, sizeof p->proto_buf, "LINKTYPE-%d", dlt);
        p->proto = p->proto_buf;
        break;
    }
}
