/*
 * fuzz_decode.c - fuzz target "decode": ipm_decode() on every link type it
 * supports (and on some it does not), then ipm_decoded_protocol_name().
 *
 * The first byte picks the link type; the rest is the captured packet,
 * passed at its exact size so that ASan sees any read past caplen. Checks
 * the ipm_decoded contract: offsets inside the capture, fields in range,
 * -1 where the header says "absent", a short NUL-terminated name.
 */
#include "fuzz.h"

#include <pcap/dlt.h>
#include <string.h>

#include "ipmonitor.h"

static const int link_types[16] = {
    DLT_EN10MB, DLT_EN10MB, DLT_EN10MB, DLT_EN10MB, /* the common case, weighted */
    DLT_LINUX_SLL, DLT_LINUX_SLL2, DLT_RAW, DLT_IPV4,
    DLT_IPV6, DLT_NULL, DLT_LOOP, 12 /* DLT_RAW's other number on some BSDs */,
    DLT_IEEE802_11, 147 /* DLT_USER0 */, -1, 0x7fffffff,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    int dlt = link_types[data[0] & 15];
    const uint8_t *pkt = data + 1;
    uint32_t caplen = (uint32_t)(size - 1);
    ipm_decoded d;
    memset(&d, 0xa5, sizeof d); /* a field left unset shows as garbage */
    FUZZ_CHECK(ipm_decode(dlt, caplen ? pkt : NULL, caplen, &d) == IPM_OK, "decode failed");
    FUZZ_CHECK(d.link_type == dlt && d.caplen == caplen, "link_type/caplen not echoed");
    FUZZ_CHECK(d.vlan_count >= 0 && d.vlan_count <= IPM_DECODE_MAX_VLANS, "vlan_count %d",
               d.vlan_count);
    for (int i = 0; i < d.vlan_count; i++)
        FUZZ_CHECK(d.vlan[i] < 4096, "vlan id %u", d.vlan[i]);
    FUZZ_CHECK(d.network >= IPM_NET_NONE && d.network <= IPM_NET_OTHER, "network %d", d.network);
    if (d.network != IPM_NET_NONE)
        FUZZ_CHECK(d.network_offset <= caplen, "network_offset %u > caplen %u",
                   d.network_offset, caplen);
    FUZZ_CHECK(d.family >= 0 && d.family < IPM_FAMILY_COUNT, "family %d", d.family);
    FUZZ_CHECK((d.family == IPM_FAMILY_IPV4) == (d.network == IPM_NET_IPV4) &&
                   (d.family == IPM_FAMILY_IPV6) == (d.network == IPM_NET_IPV6),
               "family %d with network %d", d.family, d.network);
    FUZZ_CHECK(d.protocol >= 0 && d.protocol < IPM_PROTO_COUNT, "protocol %d", d.protocol);
    FUZZ_CHECK(d.addr_family >= 0 && d.addr_family < IPM_FAMILY_COUNT, "addr_family %d",
               d.addr_family);
    FUZZ_CHECK(d.ethertype >= -1 && d.ethertype <= 0xffff, "ethertype %d", d.ethertype);
    FUZZ_CHECK(d.link_protocol >= -1, "link_protocol %d", d.link_protocol);
    FUZZ_CHECK(d.ip_protocol >= -1 && d.ip_protocol <= 255, "ip_protocol %d", d.ip_protocol);
    if (d.ip_protocol >= 0)
        FUZZ_CHECK(d.transport_offset <= caplen, "transport_offset %u > caplen %u",
                   d.transport_offset, caplen);
    FUZZ_CHECK(d.sport >= -1 && d.sport <= 65535 && d.dport >= -1 && d.dport <= 65535,
               "ports %d %d", d.sport, d.dport);
    FUZZ_CHECK((d.sport < 0) == (d.dport < 0), "one port without the other");
    FUZZ_CHECK(d.tcp_flags >= -1 && d.tcp_flags <= 255, "tcp_flags %d", d.tcp_flags);
    if (d.tcp_flags >= 0)
        FUZZ_CHECK(d.tcp_window >= 0 && d.tcp_window <= 65535 && d.ip_protocol == 6,
                   "tcp_window %d ip_protocol %d", d.tcp_window, d.ip_protocol);
    FUZZ_CHECK(d.icmp_type >= -1 && d.icmp_type <= 255 && d.icmp_code >= -1 &&
                   d.icmp_code <= 255 && (d.icmp_type < 0) == (d.icmp_code < 0),
               "icmp %d/%d", d.icmp_type, d.icmp_code);
    FUZZ_CHECK(d.icmp_id >= -1 && d.icmp_id <= 65535 && d.icmp_seq >= -1 && d.icmp_seq <= 65535,
               "icmp id/seq %d/%d", d.icmp_id, d.icmp_seq);
    FUZZ_CHECK(d.fragment_offset >= -1 && d.fragment_offset <= 0xffff * 8, "fragment_offset %d",
               d.fragment_offset);
    FUZZ_CHECK(d.arp_op >= -1 && d.arp_op <= 65535, "arp_op %d", d.arp_op);
    FUZZ_CHECK(d.llc_dsap >= -1 && d.llc_dsap <= 255, "llc_dsap %d", d.llc_dsap);
    if (d.payload_len >= 0)
        FUZZ_CHECK(d.payload_offset >= 0, "payload_len %lld at offset %lld",
                   (long long)d.payload_len, (long long)d.payload_offset);
    FUZZ_CHECK((d.flags & ~0x0fu) == 0, "unknown flags 0x%x", d.flags);

    char buf[IPM_DECODE_NAME_LEN];
    memset(buf, 0x5a, sizeof buf);
    const char *name = ipm_decoded_protocol_name(&d, buf);
    FUZZ_CHECK(name != NULL, "no protocol name");
    FUZZ_CHECK(strnlen(name, IPM_DECODE_NAME_LEN) < IPM_DECODE_NAME_LEN && name[0] != '\0',
               "protocol name empty or not terminated within %d bytes", IPM_DECODE_NAME_LEN);
    FUZZ_CHECK(ipm_decoded_protocol_name(NULL, buf) == NULL &&
                   ipm_decoded_protocol_name(&d, NULL) == NULL,
               "a name for NULL arguments");
    return 0;
}
