/*
 * decode.c - ipmon's text form of a decoded packet (see decode.h).
 *
 * The library's ipm_decode() reads the headers; this file only turns what
 * it found into the strings a line or a JSON object shows: addresses and
 * MACs as text, TCP flags as tcpdump's letters, and a short note (ICMP
 * message, TCP sequence numbers, ARP question, fragment). For -v it also
 * reads the few header fields ipm_decode() does not report (IP TOS, TTL,
 * id, IPv4 options, flow label, hop limit, TCP options and checksum) at the offsets
 * ipm_decode() found, every read checked against the captured length; and
 * it keeps tcpdump's relative TCP sequence numbers in a fixed table.
 */
#include "decode.h"

#include <arpa/inet.h>
#include <pcap/dlt.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

static void fmt_mac(char out[18], const uint8_t *m)
{
    static const char hex[] = "0123456789abcdef";
    for (int i = 0; i < 6; i++) {
        out[i * 3] = hex[m[i] >> 4];
        out[i * 3 + 1] = hex[m[i] & 15];
        out[i * 3 + 2] = i < 5 ? ':' : '\0';
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

/* The note of an ICMP or ICMPv6 message: its name, echo id and seq, the
 * reason of an unreachable, or the bare numbers of an unknown type. */
static void icmp_info(dec_packet *p, const ipm_decoded *d)
{
    int v6 = d->ip_protocol == 58, t = d->icmp_type, c = d->icmp_code;
    const char *n = v6 ? icmp6_name(t) : icmp4_name(t);
    const char *uc = (v6 ? t == 1 : t == 3) ? unreach_code_name(v6, c) : NULL;
    if (d->icmp_id >= 0)
        snprintf(p->info, sizeof p->info, "%s id %d seq %d", n, d->icmp_id, d->icmp_seq);
    else if (uc)
        snprintf(p->info, sizeof p->info, "unreachable: %s", uc);
    else if (n && c != 0)
        snprintf(p->info, sizeof p->info, "%s code %d", n, c);
    else if (n)
        snprintf(p->info, sizeof p->info, "%s", n);
    else
        snprintf(p->info, sizeof p->info, "type %d code %d", t, c);
}

/* "seq N [ack M] win W", the TCP note, from the numbers given. */
static void tcp_info(dec_packet *p, uint32_t seq, uint32_t ack)
{
    if (p->tcp_bits & 0x10)
        snprintf(p->info, sizeof p->info, "seq %u ack %u win %d", seq, ack, p->tcp_window);
    else
        snprintf(p->info, sizeof p->info, "seq %u win %d", seq, p->tcp_window);
}

static void tcp_text(dec_packet *p, const ipm_decoded *d)
{
    static const struct { unsigned bit; char c; } flags[] = {
        {0x01, 'F'}, {0x02, 'S'}, {0x04, 'R'}, {0x08, 'P'},
        {0x10, '.'}, {0x20, 'U'}, {0x40, 'E'}, {0x80, 'W'}};
    size_t n = 0;
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++)
        if ((unsigned)d->tcp_flags & flags[i].bit)
            p->tcp_flags[n++] = flags[i].c;
    if (n == 0)
        memcpy(p->tcp_flags, "none", 5);
    else
        p->tcp_flags[n] = '\0';
    tcp_info(p, d->tcp_seq, d->tcp_ack);
}

/* ARP over Ethernet/IPv4 has addresses (the question or the answer); any
 * other ARP is named by its numbers. */
static void arp_info(dec_packet *p, const ipm_decoded *d)
{
    char mac[18];
    if (d->addr_family != IPM_FAMILY_IPV4) {
        if (!(d->flags & IPM_DECODED_TRUNCATED))
            snprintf(p->info, sizeof p->info, "op %d htype %d ptype 0x%04x", d->arp_op,
                     d->arp_hardware, (unsigned)d->arp_protocol);
    } else if (d->arp_op == 1) {
        snprintf(p->info, sizeof p->info, "request who-has %s tell %s", p->dst, p->src);
    } else if (d->arp_op == 2) {
        fmt_mac(mac, d->arp_sender_mac);
        snprintf(p->info, sizeof p->info, "reply %s is-at %s", p->src, mac);
    } else {
        snprintf(p->info, sizeof p->info, "op %d", d->arp_op);
    }
}

static void fragment_info(dec_packet *p, const ipm_decoded *d)
{
    const char *more = (d->flags & IPM_DECODED_MORE_FRAGMENTS) ? " more" : "";
    if (d->fragment_offset > 0) {
        /* A later fragment: nothing decoded past the IP header. */
        snprintf(p->info, sizeof p->info, "fragment offset %d%s", d->fragment_offset, more);
    } else if (d->fragment_offset == 0) {
        size_t n = strlen(p->info);
        snprintf(p->info + n, sizeof p->info - n, "%sfragment offset 0%s", n ? ", " : "", more);
    }
}

void dec_packet_describe(dec_packet *p, const ipm_decoded *d)
{
    p->proto = ipm_decoded_protocol_name(d, p->proto_buf);
    p->ip_version = d->network == IPM_NET_IPV4 ? 4 : d->network == IPM_NET_IPV6 ? 6 : 0;
    p->src[0] = p->dst[0] = '\0';
    p->mac_src[0] = p->mac_dst[0] = '\0';
    p->tcp_flags[0] = '\0';
    p->info[0] = '\0';
    p->ip_facts[0] = p->tcp_cksum[0] = p->tcp_options[0] = '\0';
    p->network_offset = d->network != IPM_NET_NONE ? (int64_t)d->network_offset : -1;
    p->tcp_bits = d->tcp_flags;
    p->tcp_window = d->tcp_window;
    p->tcp_seq = d->tcp_seq;
    p->tcp_ack = d->tcp_ack;
    p->addr_family = d->addr_family;
    memcpy(p->src_raw, d->src, sizeof p->src_raw);
    memcpy(p->dst_raw, d->dst, sizeof p->dst_raw);
    if (d->flags & IPM_DECODED_MAC_SRC)
        fmt_mac(p->mac_src, d->mac_src);
    if (d->flags & IPM_DECODED_MAC_DST)
        fmt_mac(p->mac_dst, d->mac_dst);
    if (d->addr_family != IPM_FAMILY_OTHER) {
        int af = d->addr_family == IPM_FAMILY_IPV4 ? AF_INET : AF_INET6;
        inet_ntop(af, d->src, p->src, sizeof p->src);
        inet_ntop(af, d->dst, p->dst, sizeof p->dst);
    } else if (d->network == IPM_NET_LLC || (d->network == IPM_NET_OTHER && d->ethertype >= 0)) {
        /* Not IP: the MACs are the addresses. */
        memcpy(p->src, p->mac_src, sizeof p->mac_src);
        memcpy(p->dst, p->mac_dst, sizeof p->mac_dst);
    }
    p->sport = d->sport;
    p->dport = d->dport;
    p->payload_len = d->payload_len;
    p->vlan = d->vlan_count > 0 ? d->vlan[0] : -1;
    p->ethertype = d->ethertype;
    p->ip_proto = d->ip_protocol;
    p->icmp_type = d->icmp_type;
    p->icmp_code = d->icmp_code;
    p->truncated = (d->flags & IPM_DECODED_TRUNCATED) != 0;
    if (d->icmp_type >= 0)
        icmp_info(p, d);
    else if (d->tcp_flags >= 0)
        tcp_text(p, d);
    else if (d->network == IPM_NET_ARP && d->arp_op >= 0)
        arp_info(p, d);
    else if (d->network == IPM_NET_OTHER && (d->link_type == DLT_NULL || d->link_type == DLT_LOOP))
        snprintf(p->info, sizeof p->info, "address family %u", (unsigned)d->link_protocol);
    fragment_info(p, d);
}

void dec_packet_decode(dec_packet *p, int dlt, const uint8_t *data, uint32_t len)
{
    dec_packet_decode_verbose(p, dlt, data, len, 0);
}

/* ---- -v: the facts tcpdump -v prints ---- */

static unsigned be16(const uint8_t *b) { return (unsigned)b[0] << 8 | b[1]; }

/* tcpdump's names of IP protocols (its ipproto_values), "unknown" else. */
static const char *ip_proto_name(int proto)
{
    switch (proto) {
    case 0: return "Options";
    case 1: return "ICMP";
    case 2: return "IGMP";
    case 4: return "IPIP";
    case 6: return "TCP";
    case 8: return "EGP";
    case 9: return "IGRP";
    case 17: return "UDP";
    case 33: return "DCCP";
    case 41: return "IPv6";
    case 43: return "Routing";
    case 44: return "Frag";
    case 46: return "RSVP";
    case 47: return "GRE";
    case 50: return "ESP";
    case 51: return "AH";
    case 55: return "Mobile IP";
    case 58: return "ICMPv6";
    case 62: return "Mobile IP (old)";
    case 88: return "EIGRP";
    case 89: return "OSPF";
    case 103: return "PIM";
    case 108: return "Compressed IP";
    case 112: return "VRRP";
    case 113: return "PGM";
    case 132: return "SCTP";
    case 135: return "Mobility";
    default: return "unknown";
    }
}

/* The one's complement sum of `len` bytes added to `sum` (not folded). */
static uint32_t sum16(uint32_t sum, const uint8_t *b, size_t len)
{
    size_t i = 0;
    for (; i + 1 < len; i += 2)
        sum += be16(b + i);
    if (i < len)
        sum += (uint32_t)b[i] << 8;
    return sum;
}

static unsigned fold16(uint32_t sum)
{
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return sum;
}

static void opt_add(char *buf, size_t cap, size_t *n, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static uint32_t be32(const uint8_t *b)
{
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

static void addr4_text(char out[16], const uint8_t *a)
{
    snprintf(out, 16, "%u.%u.%u.%u", a[0], a[1], a[2], a[3]);
}

/* The names tcpdump gives IPv4 options. */
static const char *ipv4_option_name(unsigned code)
{
    switch (code) {
    case 0: return "EOL";
    case 1: return "NOP";
    case 7: return "RR";
    case 68: return "timestamp";
    case 82: return "traceroute";
    case 130: return "security";
    case 131: return "LSRR";
    case 137: return "SSRR";
    case 148: return "RA";
    default: return NULL;
    }
}

/* A route option (RR, LSRR, SSRR) of `olen` bytes at o, `avail` bytes
 * readable from o: " 1.2.3.4, 5.6.7.8" as tcpdump -v, a comma after each
 * address already recorded (before the pointer), with its notes on a bad
 * length or pointer. The addresses are read in steps of four from byte 3
 * to the option's end, as tcpdump reads them. -1 when the capture ends
 * first. */
static int ipv4_route_text(char *buf, size_t cap, size_t *n, const uint8_t *o, uint32_t olen,
                           uint32_t avail)
{
    if (olen < 3) {
        opt_add(buf, cap, n, " [bad length %u]", olen);
        return 0;
    }
    if ((olen + 1) & 3)
        opt_add(buf, cap, n, " [bad length %u]", olen);
    unsigned ptr = o[2] - 1u; /* wraps for 0, as tcpdump's unsigned does */
    if (ptr < 3 || ((ptr + 1) & 3) || ptr > olen + 1)
        opt_add(buf, cap, n, " [bad ptr %u]", o[2]);
    for (uint32_t at = 3; at < olen; at += 4) {
        if (at + 4 > avail)
            return -1;
        char a[16];
        addr4_text(a, o + at);
        opt_add(buf, cap, n, " %s%s", a, ptr > at ? "," : "");
    }
    return 0;
}

/* A timestamp option: " TS{TSONLY 1@ 2@ ^ }", " TS{TS+ADDR 3@1.2.3.4 ^ }" as
 * tcpdump -v (" ^ " where the pointer is, "[N hops not recorded]" for the
 * overflow count). -1 when the capture ends first. */
static int ipv4_timestamp_text(char *buf, size_t cap, size_t *n, const uint8_t *o, uint32_t olen,
                               uint32_t avail)
{
    if (olen < 4) {
        opt_add(buf, cap, n, "[bad length %u]", olen);
        return 0;
    }
    opt_add(buf, cap, n, " TS{");
    unsigned kind = o[3] & 15, hop = kind != 0 ? 8 : 4;
    if ((olen - 4) & (hop - 1))
        opt_add(buf, cap, n, "[bad length %u]", olen);
    unsigned ptr = o[2] - 1u;
    if (ptr < 4 || ((ptr - 4) & (hop - 1)) || ptr > olen + 1)
        opt_add(buf, cap, n, "[bad ptr %u]", o[2]);
    uint32_t at = 0;
    static const char *const kinds[] = {"TSONLY", "TS+ADDR", NULL, "PRESPEC"};
    if (kind <= 3 && kinds[kind]) {
        opt_add(buf, cap, n, "%s", kinds[kind]);
        for (at = 4; at < olen; at += hop) {
            if (at + hop > avail)
                return -1;
            char a[16] = "";
            if (hop == 8)
                addr4_text(a, o + at);
            opt_add(buf, cap, n, "%s%u@%s", ptr == at ? " ^ " : " ", (unsigned)be32(o + at + hop - 4), a);
        }
    } else {
        opt_add(buf, cap, n, "[bad ts type %u]", kind);
    }
    opt_add(buf, cap, n, "%s", ptr == at ? " ^ " : "");
    if (o[3] >> 4)
        opt_add(buf, cap, n, " [%u hops not recorded]} ", o[3] >> 4);
    else
        opt_add(buf, cap, n, "}");
    return 0;
}

/* The IPv4 options (`len` bytes at o, `avail` of them readable) as
 * tcpdump -v shows them: ", options (NOP,NOP,RR 1.2.3.4, 5.6.7.8,EOL)".
 * Reading stops at EOL and at a length that cannot be (noted
 * "[bad length N]"). Where the capture ends: " [truncated-option]" inside
 * an option, tcpdump's " [|ip]" before an option's kind or length byte
 * (tcpdump ends the packet there; the group is closed here all the same,
 * as the line goes on). */
static void ipv4_options_text(char *buf, size_t cap, size_t *n, const uint8_t *o, uint32_t len,
                              uint32_t avail)
{
    opt_add(buf, cap, n, ", options (");
    int cut = 0;
    for (uint32_t i = 0, olen; i < len && !cut; i += olen) {
        if (i >= avail) {
            opt_add(buf, cap, n, "%s [|ip]", i ? "," : "");
            break;
        }
        unsigned code = o[i];
        const char *name = ipv4_option_name(code);
        if (name)
            opt_add(buf, cap, n, "%s%s", i ? "," : "", name);
        else
            opt_add(buf, cap, n, "%sunknown %u", i ? "," : "", code);
        olen = 1;
        if (code > 1) {
            if (i + 1 >= avail) {
                opt_add(buf, cap, n, " [|ip]");
                break;
            }
            olen = o[i + 1];
            if (olen < 2) {
                opt_add(buf, cap, n, " [bad length %u]", olen);
                break;
            }
        }
        if (olen > len - i) {
            opt_add(buf, cap, n, " [bad length %u]", olen);
            break;
        }
        if (i + olen > avail) {
            cut = 1;
            break;
        }
        if (code == 0)
            break;
        if (code == 68)
            cut = ipv4_timestamp_text(buf, cap, n, o + i, olen, avail - i) < 0;
        else if (code == 7 || code == 131 || code == 137)
            cut = ipv4_route_text(buf, cap, n, o + i, olen, avail - i) < 0;
        else if (code == 148 && olen < 4)
            opt_add(buf, cap, n, " [bad length %u]", olen);
        else if (code == 148 && be16(o + i + 2) != 0)
            opt_add(buf, cap, n, " value %u", be16(o + i + 2));
    }
    if (cut)
        opt_add(buf, cap, n, " [truncated-option]");
    opt_add(buf, cap, n, ")");
}

/* IPv4: "(tos 0x0, ttl 64, id 1, offset 0, flags [DF], proto TCP (6), length 60)",
 * with the options and ", bad cksum" as tcpdump when the header checksum is
 * wrong. */
static void ipv4_facts(dec_packet *p, const uint8_t *ip, uint32_t avail)
{
    if (avail < 20)
        return;
    static const char *const ecn[] = {"", ",ECT(1)", ",ECT(0)", ",CE"};
    unsigned frag = be16(ip + 6);
    char flags[16] = "";
    if (frag & 0x2000)
        strcat(flags, "+");
    if (frag & 0x4000)
        strcat(flags, "DF");
    if (frag & 0x8000)
        strcat(flags, "rsvd");
    if (!flags[0])
        strcpy(flags, "none");
    int n = snprintf(p->ip_facts, sizeof p->ip_facts,
                     "(tos 0x%x%s, ttl %u, id %u, offset %u, flags [%s], proto %s (%u), length %u",
                     ip[1], ecn[ip[1] & 3], ip[8], be16(ip + 4), (frag & 0x1fff) * 8, flags,
                     ip_proto_name(ip[9]), ip[9], be16(ip + 2));
    unsigned hlen = (ip[0] & 15) * 4u;
    if (n > 0 && (size_t)n < sizeof p->ip_facts && hlen > 20) {
        /* tcpdump reads no further than the IP length says */
        uint32_t readable = avail < be16(ip + 2) ? avail : be16(ip + 2);
        size_t at = (size_t)n;
        ipv4_options_text(p->ip_facts, sizeof p->ip_facts, &at, ip + 20, hlen - 20,
                          readable > 20 ? readable - 20 : 0);
        n = (int)at;
    }
    if (n > 0 && (size_t)n < sizeof p->ip_facts && hlen >= 20 && hlen <= avail) {
        unsigned stored = be16(ip + 10);
        unsigned want = ~fold16(sum16(0, ip, hlen) - stored) & 0xffff;
        if (fold16(sum16(0, ip, hlen)) != 0xffff)
            n += snprintf(p->ip_facts + n, sizeof p->ip_facts - (size_t)n,
                          ", bad cksum %x (->%x)!", stored, want);
    }
    if (n > 0 && (size_t)n < sizeof p->ip_facts - 1)
        strcat(p->ip_facts, ")");
}

/* IPv6: "(class 0x10, flowlabel 0x12345, hlim 64, next-header TCP (6) payload length: 40)". */
static void ipv6_facts(dec_packet *p, const uint8_t *ip, uint32_t avail)
{
    if (avail < 40)
        return;
    uint32_t flow = (uint32_t)ip[0] << 24 | (uint32_t)ip[1] << 16 | (uint32_t)ip[2] << 8 | ip[3];
    char cls[24] = "", label[32] = "";
    if (flow & 0x0ff00000)
        snprintf(cls, sizeof cls, "class 0x%02x, ", (flow & 0x0ff00000) >> 20);
    if (flow & 0x000fffff)
        snprintf(label, sizeof label, "flowlabel 0x%05x, ", flow & 0x000fffff);
    snprintf(p->ip_facts, sizeof p->ip_facts, "(%s%shlim %u, next-header %s (%u) payload length: %u)",
             cls, label, ip[7], ip_proto_name(ip[6]), ip[6], be16(ip + 4));
}

/* Append to the options text, never past its end. */
static void opt_add(char *buf, size_t cap, size_t *n, const char *fmt, ...)
{
    if (*n >= cap - 1)
        return;
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(buf + *n, cap - *n, fmt, ap);
    va_end(ap);
    if (k > 0)
        *n = *n + (size_t)k < cap - 1 ? *n + (size_t)k : cap - 1;
}

/* "options [mss 1460,sackOK,TS val 1 ecr 2,nop,wscale 7]" in tcpdump's
 * words; "[bad opt]" where an option's length is wrong. */
static void tcp_options_text(dec_packet *p, const uint8_t *o, uint32_t len)
{
    char *buf = p->tcp_options;
    size_t cap = sizeof p->tcp_options, n = 0;
    opt_add(buf, cap, &n, "options [");
    for (uint32_t i = 0; i < len;) {
        unsigned kind = o[i];
        if (i > 0)
            opt_add(buf, cap, &n, ",");
        if (kind == 0) { /* the end: the rest is padding */
            opt_add(buf, cap, &n, "eol");
            break;
        }
        if (kind == 1) {
            opt_add(buf, cap, &n, "nop");
            i++;
            continue;
        }
        if (i + 1 >= len || o[i + 1] < 2 || i + o[i + 1] > len) {
            opt_add(buf, cap, &n, "bad opt");
            break;
        }
        unsigned olen = o[i + 1];
        const uint8_t *v = o + i + 2;
        if (kind == 2 && olen == 4)
            opt_add(buf, cap, &n, "mss %u", be16(v));
        else if (kind == 3 && olen == 3)
            opt_add(buf, cap, &n, "wscale %u", v[0]);
        else if (kind == 4 && olen == 2)
            opt_add(buf, cap, &n, "sackOK");
        else if (kind == 5 && (olen - 2) % 8 == 0) {
            opt_add(buf, cap, &n, "sack %u", (olen - 2) / 8);
            for (unsigned k = 0; k + 8 <= olen - 2; k += 8)
                opt_add(buf, cap, &n, " {%u:%u}",
                        (unsigned)((uint32_t)v[k] << 24 | (uint32_t)v[k + 1] << 16 | (uint32_t)v[k + 2] << 8 | v[k + 3]),
                        (unsigned)((uint32_t)v[k + 4] << 24 | (uint32_t)v[k + 5] << 16 | (uint32_t)v[k + 6] << 8 | v[k + 7]));
        } else if (kind == 8 && olen == 10)
            opt_add(buf, cap, &n, "TS val %u ecr %u",
                    (unsigned)((uint32_t)v[0] << 24 | (uint32_t)v[1] << 16 | (uint32_t)v[2] << 8 | v[3]),
                    (unsigned)((uint32_t)v[4] << 24 | (uint32_t)v[5] << 16 | (uint32_t)v[6] << 8 | v[7]));
        else if (kind == 30)
            opt_add(buf, cap, &n, "mptcp");
        else if (kind == 34)
            opt_add(buf, cap, &n, "tfo");
        else
            opt_add(buf, cap, &n, "unknown-%u", kind);
        i += olen;
    }
    opt_add(buf, cap, &n, "]");
}

/* The destination an IPv4 checksum's pseudo-header holds, as tcpdump
 * takes it: with a source route (LSRR or SSRR, in full in the capture and
 * the header), the route's last address; else the header's. */
static const uint8_t *ipv4_final_destination(const uint8_t *ip, uint32_t avail)
{
    uint32_t hlen = (ip[0] & 15) * 4u, end = hlen < avail ? hlen : avail;
    for (uint32_t i = 20, olen; i < end; i += olen) {
        if (ip[i] == 0)
            break;
        olen = 1;
        if (ip[i] == 1)
            continue;
        if (i + 1 >= end || (olen = ip[i + 1]) < 2 || i + olen > end)
            break;
        if ((ip[i] == 131 || ip[i] == 137) && olen >= 7)
            return ip + i + olen - 4;
    }
    return ip + 16;
}

/* TCP: the checksum, "(correct)" or "(incorrect -> 0x....)" when the
 * whole segment was captured (as tcpdump), and the options. */
static void tcp_facts(dec_packet *p, const ipm_decoded *d, const uint8_t *data, uint32_t len)
{
    const uint8_t *t = data + d->transport_offset;
    uint32_t avail = len - d->transport_offset;
    if (avail < 20)
        return;
    unsigned stored = be16(t + 16);
    int n = snprintf(p->tcp_cksum, sizeof p->tcp_cksum, "cksum 0x%04x", stored);
    /* The segment's length, as the IP header says. */
    const uint8_t *ip = data + d->network_offset;
    int64_t seg = -1;
    if (d->network == IPM_NET_IPV4)
        seg = (int64_t)be16(ip + 2) - (int64_t)(d->transport_offset - d->network_offset);
    else if (d->network == IPM_NET_IPV6)
        seg = (int64_t)be16(ip + 4) + 40 - (int64_t)(d->transport_offset - d->network_offset);
    if (seg >= 20 && (uint64_t)seg <= avail && d->fragment_offset < 0 && n > 0) {
        uint32_t sum = 0;
        if (d->addr_family == IPM_FAMILY_IPV4)
            sum = sum16(sum16(0, d->src, 4),
                        ipv4_final_destination(ip, (uint32_t)(len - d->network_offset)), 4);
        else
            sum = sum16(sum16(0, d->src, 16), d->dst, 16);
        sum += 6 + (uint32_t)seg;
        sum = sum16(sum, t, (size_t)seg);
        if (fold16(sum) == 0xffff)
            snprintf(p->tcp_cksum + n, sizeof p->tcp_cksum - (size_t)n, " (correct)");
        else
            snprintf(p->tcp_cksum + n, sizeof p->tcp_cksum - (size_t)n, " (incorrect -> 0x%04x)",
                     ~fold16(sum - stored) & 0xffff);
    }
    uint32_t hlen = (uint32_t)(t[12] >> 4) * 4;
    if (hlen > 20 && hlen <= avail)
        tcp_options_text(p, t + 20, hlen - 20);
}

void dec_packet_decode_verbose(dec_packet *p, int dlt, const uint8_t *data, uint32_t len,
                               int verbose)
{
    ipm_decoded d;
    ipm_decode(dlt, data, len, &d);
    dec_packet_describe(p, &d);
    if (!verbose)
        return;
    if (d.network == IPM_NET_IPV4 && d.network_offset < len)
        ipv4_facts(p, data + d.network_offset, len - d.network_offset);
    else if (d.network == IPM_NET_IPV6 && d.network_offset < len)
        ipv6_facts(p, data + d.network_offset, len - d.network_offset);
    if (d.tcp_flags >= 0 && d.transport_offset < len && d.network_offset < len)
        tcp_facts(p, &d, data, len);
}

/* ---- relative sequence numbers ---- */

void dec_seq_relative(dec_seq_table *t, dec_packet *p)
{
    /* tcpdump takes only packets with ACK set into its table. */
    if (p->tcp_bits < 0 || !(p->tcp_bits & 0x10) || p->addr_family == IPM_FAMILY_OTHER)
        return;
    size_t alen = p->addr_family == IPM_FAMILY_IPV4 ? 4 : 16;
    int c = memcmp(p->src_raw, p->dst_raw, alen);
    int rev = c > 0 || (c == 0 && p->sport > p->dport); /* this packet goes b -> a */
    const uint8_t *a = rev ? p->dst_raw : p->src_raw, *b = rev ? p->src_raw : p->dst_raw;
    uint16_t aport = (uint16_t)(rev ? p->dport : p->sport), bport = (uint16_t)(rev ? p->sport : p->dport);
    uint32_t h = 2166136261u; /* FNV-1a over the key */
    for (size_t i = 0; i < alen; i++)
        h = (h ^ a[i]) * 16777619u, h = (h ^ b[i]) * 16777619u;
    h = (h ^ aport) * 16777619u;
    h = (h ^ bport) * 16777619u;
    dec_seq_entry *e = &t->slot[h % DEC_SEQ_SLOTS];
    int same = e->used && e->family == (uint8_t)p->addr_family && e->aport == aport &&
               e->bport == bport && memcmp(e->a, a, alen) == 0 && memcmp(e->b, b, alen) == 0;
    if (!same || (p->tcp_bits & 0x02)) {
        /* A new connection (or a SYN-ACK): the bases, absolute numbers shown. */
        memset(e, 0, sizeof *e);
        memcpy(e->a, a, alen);
        memcpy(e->b, b, alen);
        e->aport = aport;
        e->bport = bport;
        e->family = (uint8_t)p->addr_family;
        e->used = 1;
        if (rev) {
            e->b_base = p->tcp_seq;
            e->a_base = p->tcp_ack - 1;
        } else {
            e->a_base = p->tcp_seq;
            e->b_base = p->tcp_ack - 1;
        }
        return;
    }
    uint32_t own = rev ? e->b_base : e->a_base, peer = rev ? e->a_base : e->b_base;
    tcp_info(p, p->tcp_seq - own, p->tcp_ack - peer);
}
