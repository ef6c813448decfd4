/*
 * decode.c - ipmon's text form of a decoded packet (see decode.h).
 *
 * The library's ipm_decode() reads the headers; this file only turns what
 * it found into the strings a line or a JSON object shows: addresses and
 * MACs as text, TCP flags as tcpdump's letters, and a short note (ICMP
 * message, TCP sequence numbers, ARP question, fragment). It parses no
 * packet bytes itself.
 */
#include "decode.h"

#include <arpa/inet.h>
#include <pcap/dlt.h>
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
    if (d->tcp_flags & 0x10)
        snprintf(p->info, sizeof p->info, "seq %u ack %u win %d", d->tcp_seq, d->tcp_ack,
                 d->tcp_window);
    else
        snprintf(p->info, sizeof p->info, "seq %u win %d", d->tcp_seq, d->tcp_window);
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
    ipm_decoded d;
    ipm_decode(dlt, data, len, &d);
    dec_packet_describe(p, &d);
}
