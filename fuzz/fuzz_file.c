/*
 * fuzz_file.c - fuzz target "file": the capture-file reader through the
 * public API. The input's first byte picks a filter and whether
 * StatisticsDetail is on; the rest is written to an in-memory file (pcap,
 * either byte order, micro or nano magic, or pcapng: whatever the bytes
 * are), which is activated and run to its end once in capture mode and
 * once in statistics mode.
 *
 * Beyond the sanitizers it checks what the API promises for any file:
 * every packet's bytes are readable (data_size of them), one do_events
 * ends a file (the monitor is inactive after the loop), statistics events
 * add up (their protocol and family splits sum to the packets), and the
 * two modes agree on the packets and bytes of a file read without error.
 * And the reader is compared with libpcap's own (pcap_next_ex with the same
 * filter): the library reads classic pcap files itself, with libpcap's
 * checks, so both must open the same files and pass the same packets.
 */
#include "fuzz.h"

#include <pcap/pcap.h>
#include <string.h>

#include "ipmonitor.h"

/* Filters of different kinds (protocols, ports, payload offsets, VLAN,
 * link fields, lengths); the first byte's low four bits pick one. */
static const char *const filters[16] = {
    "",
    "tcp",
    "udp port 53",
    "ip6 and icmp6",
    "vlan and ip",
    "arp",
    "ip[0] & 0xf > 5",
    "tcp[tcpflags] & tcp-syn != 0",
    "ether host 00:11:22:33:44:55",
    "net 10.0.0.0/8 or net fd00::/8",
    "greater 100",
    "ip proto 132 or ip6 proto 132",
    "not ip",
    "udp and len < 64",
    "icmp[icmptype] == icmp-echo",
    "ip6 proto 44 or ip[6:2] & 0x3fff != 0",
};

typedef struct run_result {
    int activated;    /* ipm_activate succeeded */
    int rc_error;     /* a do_events returned an error, or on_error fired */
    int64_t packets, bytes;
} run_result;

static int check_time_stamps;

static int on_packet(const ipm_packet_event *e, void *user)
{
    run_result *r = user;
    FUZZ_CHECK(e->data || e->data_size == 0, "NULL data with data_size %u", e->data_size);
    /* Touch every byte given: ASan reports any that are not readable. */
    volatile uint8_t sum = 0;
    for (uint32_t i = 0; i < e->data_size; i++)
        sum ^= e->data[i];
    (void)sum;
    FUZZ_CHECK(e->adapter != NULL, "packet event without an adapter name");
    if (check_time_stamps)
        FUZZ_CHECK(e->time_stamp.tv_nsec >= 0 && e->time_stamp.tv_nsec < 1000000000L,
                   "time stamp not normalised: tv_nsec %ld", (long)e->time_stamp.tv_nsec);
    r->packets++;
    r->bytes += e->packet_size;
    return 0;
}

static int on_statistics(const ipm_statistics_event *e, void *user)
{
    run_result *r = user;
    FUZZ_CHECK(e->captured_packets >= 0 && e->captured_bytes >= 0, "negative counts");
    if (e->detail) {
        int64_t pp = 0, pb = 0, fp = 0, fb = 0;
        for (int i = 0; i < IPM_PROTO_COUNT; i++) {
            pp += e->protocol_packets[i];
            pb += e->protocol_bytes[i];
        }
        for (int i = 0; i < IPM_FAMILY_COUNT; i++) {
            fp += e->family_packets[i];
            fb += e->family_bytes[i];
        }
        FUZZ_CHECK(pp == e->captured_packets && pb == e->captured_bytes,
                   "protocol split %lld/%lld != captured %lld/%lld", (long long)pp,
                   (long long)pb, (long long)e->captured_packets, (long long)e->captured_bytes);
        FUZZ_CHECK(fp == e->captured_packets && fb == e->captured_bytes,
                   "family split %lld/%lld != captured %lld/%lld", (long long)fp, (long long)fb,
                   (long long)e->captured_packets, (long long)e->captured_bytes);
        FUZZ_CHECK(e->incoming_packets + e->outgoing_packets <= e->captured_packets,
                   "more packets with a direction than captured");
    } else {
        FUZZ_CHECK(e->incoming_packets == 0 && e->protocol_packets[0] == 0 &&
                       e->family_packets[0] == 0,
                   "detail counts filled without StatisticsDetail");
    }
    r->packets += e->captured_packets;
    r->bytes += e->captured_bytes;
    return 0;
}

static void on_error(const ipm_error_event *e, void *user)
{
    run_result *r = user;
    FUZZ_CHECK(e->description != NULL, "error event %d without a description", e->error_code);
    r->rc_error = 1;
}

/* Activate the in-memory file in `mode` and run it to its end. */
static void run(int mode, int detail, const char *filter, run_result *r)
{
    memset(r, 0, sizeof *r);
    ipm_monitor *m = ipm_new();
    FUZZ_CHECK(m != NULL, "ipm_new failed");
    FUZZ_CHECK(ipm_set_operation_mode(m, mode) == IPM_OK, "set_operation_mode: %s",
               ipm_last_error(m));
    if (detail)
        FUZZ_CHECK(ipm_config(m, "StatisticsDetail=True") != NULL, "config: %s",
                   ipm_last_error(m));
    FUZZ_CHECK(ipm_set_filter(m, filter) == IPM_OK, "set_filter(%s): %s", filter,
               ipm_last_error(m));
    ipm_set_on_packet(m, on_packet, r);
    ipm_set_on_statistics(m, on_statistics, r);
    ipm_set_on_error(m, on_error, r);
    if (ipm_activate(m, fuzz_file_path()) == IPM_OK) {
        r->activated = 1;
        FUZZ_CHECK(ipm_get_link_type(m) >= 0, "active on a file without a link type");
        /* One do_events reads a whole file; a few more are allowed. */
        for (int i = 0; i < 4 && ipm_get_active(m) > 0; i++)
            if (ipm_do_events(m) != IPM_OK)
                r->rc_error = 1;
        FUZZ_CHECK(ipm_get_active(m) == 0, "still active after 4 do_events on a file");
        int64_t received = -1, dropped = -1, ifdropped = -1;
        FUZZ_CHECK(ipm_get_statistics(m, &received, &dropped, &ifdropped) == IPM_OK,
                   "get_statistics: %s", ipm_last_error(m));
        FUZZ_CHECK(dropped == 0 && ifdropped == 0, "drops reported on a file");
    } else {
        const char *msg = ipm_last_error(m);
        FUZZ_CHECK(msg && *msg, "activate failed without a message");
    }
    ipm_free(m);
}

/* The same file through libpcap's reader and filter: opened or not, and
 * the packets and wire bytes that pass until its end or its first error. */
static void reference(const char *filter, run_result *r)
{
    memset(r, 0, sizeof *r);
    char err[PCAP_ERRBUF_SIZE];
    pcap_t *p = pcap_open_offline(fuzz_file_path(), err);
    if (!p)
        return;
    r->activated = 1;
    struct bpf_program prog;
    if (pcap_compile(p, &prog, filter, 1, PCAP_NETMASK_UNKNOWN) != 0) {
        r->activated = -1; /* the filter does not fit this link type */
        pcap_close(p);
        return;
    }
    struct pcap_pkthdr *h;
    const u_char *bytes;
    int rc;
    while ((rc = pcap_next_ex(p, &h, &bytes)) == 1) {
        if (pcap_offline_filter(&prog, h, bytes)) {
            r->packets++;
            r->bytes += h->len;
        }
    }
    r->rc_error = rc != PCAP_ERROR_BREAK;
    pcap_freecode(&prog);
    pcap_close(p);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    /* The library normalises time stamps (a sub-second part of a second
     * or more is carried into the seconds): every one must be valid.
     * IPM_FUZZ_CHECK_TIME_STAMPS=0 turns the check off. */
    const char *v = getenv("IPM_FUZZ_CHECK_TIME_STAMPS");
    check_time_stamps = !v || !*v || strcmp(v, "0") != 0;
    fuzz_file_path();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const char *filter = filters[data[0] & 15];
    int detail = (data[0] >> 4) & 1;
    fuzz_file_set(data + 1, size - 1);
    run_result cap, stat;
    run(IPM_OM_CAPTURE, detail, filter, &cap);
    run(IPM_OM_STAT, detail, filter, &stat);
    FUZZ_CHECK(cap.activated == stat.activated, "capture mode %s the file, statistics mode %s",
               cap.activated ? "opened" : "refused", stat.activated ? "opened" : "refused");
    if (cap.activated && !cap.rc_error && !stat.rc_error)
        FUZZ_CHECK(cap.packets == stat.packets && cap.bytes == stat.bytes,
                   "filter '%s': capture mode saw %lld packets %lld bytes, statistics mode "
                   "%lld packets %lld bytes",
                   filter, (long long)cap.packets, (long long)cap.bytes,
                   (long long)stat.packets, (long long)stat.bytes);
    run_result ref;
    reference(filter, &ref);
    if (ref.activated >= 0) {
        FUZZ_CHECK(cap.activated == ref.activated, "libpcap %s the file, the library %s it",
                   ref.activated ? "opens" : "refuses", cap.activated ? "opens" : "refuses");
        if (cap.activated) {
            FUZZ_CHECK(cap.rc_error == ref.rc_error, "filter '%s': libpcap %s, the library %s",
                       filter, ref.rc_error ? "stops with an error" : "reads to the end",
                       cap.rc_error ? "reports an error" : "does not");
            FUZZ_CHECK(cap.packets == ref.packets && cap.bytes == ref.bytes,
                       "filter '%s': libpcap passes %lld packets %lld bytes, the library "
                       "%lld packets %lld bytes",
                       filter, (long long)ref.packets, (long long)ref.bytes,
                       (long long)cap.packets, (long long)cap.bytes);
        }
    }
    return 0;
}
