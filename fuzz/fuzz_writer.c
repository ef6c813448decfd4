/*
 * fuzz_writer.c - fuzz target "writer": packets saved with ipm_writer and
 * read back, by libpcap and by the library itself.
 *
 * Input: byte 0 picks the format (bit 0: pcapng or classic pcap) and the
 * link type of every packet (bits 1-2: Ethernet, raw IP, Linux cooked v2,
 * Ethernet); then records, each
 *   adapter (1 byte: one of 4 names), direction (1: in, out, unknown),
 *   caplen (2, little-endian; cut to what the input still holds),
 *   extra wire bytes (1), seconds (4), nanoseconds (4, taken modulo 10^9),
 *   caplen bytes of packet data.
 * (libpcap 1.10 refuses a pcapng file whose second interface is raw IP: it
 * compares the file's LINKTYPE_RAW, 101, with the DLT_RAW it made of the
 * first. Wireshark reads such files; here raw IP packets all take one
 * adapter, so that libpcap can judge.)
 * The packets are written to an in-memory file, which is then read:
 *  - by libpcap: every packet written comes back, in order, with its
 *    time stamp (ns), lengths and bytes, and nothing else;
 *  - by the library (a monitor in capture mode on the file): the same, and
 *    in pcapng each packet's adapter name and direction as written.
 */
#include "fuzz.h"

#include <pcap/pcap.h>
#include <string.h>

#include "ipmonitor.h"

#define MAX_PACKETS 64

static const char *const names[4] = {"eth0", "wlan-test", "lo", "veth9"};
static const int link_types[4] = {DLT_EN10MB, DLT_RAW, DLT_LINUX_SLL2, DLT_EN10MB};

typedef struct written {
    ipm_packet_event ev;
} written;

static written packets[MAX_PACKETS];
static int count;

typedef struct reading {
    int next, pcapng;
} reading;

static int on_packet(const ipm_packet_event *e, void *user)
{
    reading *r = user;
    FUZZ_CHECK(r->next < count, "the library read more packets (%d) than were written (%d)",
               r->next + 1, count);
    const ipm_packet_event *w = &packets[r->next++].ev;
    FUZZ_CHECK(e->data_size == w->data_size && e->packet_size == w->packet_size,
               "packet %d: lengths %u/%u read back, %u/%u written", r->next - 1, e->data_size,
               e->packet_size, w->data_size, w->packet_size);
    FUZZ_CHECK(memcmp(e->data, w->data, w->data_size) == 0, "packet %d: bytes differ", r->next - 1);
    FUZZ_CHECK(e->time_stamp.tv_sec == w->time_stamp.tv_sec && e->time_stamp.tv_nsec == w->time_stamp.tv_nsec,
               "packet %d: time %lld.%09ld read back, %lld.%09ld written", r->next - 1,
               (long long)e->time_stamp.tv_sec, e->time_stamp.tv_nsec, (long long)w->time_stamp.tv_sec,
               w->time_stamp.tv_nsec);
    FUZZ_CHECK(e->link_type == w->link_type, "packet %d: link type %d, written %d", r->next - 1, e->link_type,
               w->link_type);
    if (r->pcapng) {
        FUZZ_CHECK(strcmp(e->adapter, w->adapter) == 0, "packet %d: adapter %s, written %s", r->next - 1,
                   e->adapter, w->adapter);
        /* cooked v2 says the direction in its own header, whatever was written */
        if (w->link_type != DLT_LINUX_SLL2)
            FUZZ_CHECK(e->direction == w->direction, "packet %d: direction %d, written %d", r->next - 1,
                       e->direction, w->direction);
    }
    return 0;
}

static void read_back_with_libpcap(void)
{
    char err[PCAP_ERRBUF_SIZE];
    pcap_t *p = pcap_open_offline_with_tstamp_precision(fuzz_file_path(), PCAP_TSTAMP_PRECISION_NANO, err);
    FUZZ_CHECK(p != NULL, "libpcap cannot open the file written: %s", err);
    struct pcap_pkthdr *h;
    const u_char *d;
    int n = 0, rc;
    while ((rc = pcap_next_ex(p, &h, &d)) == 1) {
        FUZZ_CHECK(n < count, "libpcap read more packets than were written (%d)", count);
        const ipm_packet_event *w = &packets[n].ev;
        FUZZ_CHECK(h->caplen == w->data_size && h->len == w->packet_size && memcmp(d, w->data, h->caplen) == 0,
                   "libpcap: packet %d differs (%u/%u read, %u/%u written)", n, h->caplen, h->len, w->data_size,
                   w->packet_size);
        /* libpcap reads classic pcap's unsigned 32-bit seconds as signed
         * (times after 2038 come out negative); the library reads them as
         * the format says: compared modulo 2^32 here. */
        FUZZ_CHECK((uint32_t)h->ts.tv_sec == (uint32_t)w->time_stamp.tv_sec &&
                       h->ts.tv_usec == w->time_stamp.tv_nsec,
                   "libpcap: packet %d time differs", n);
        n++;
    }
    FUZZ_CHECK(rc == PCAP_ERROR_BREAK, "libpcap: error after %d packets: %s", n, pcap_geterr(p));
    FUZZ_CHECK(n == count, "libpcap read %d packets, %d were written", n, count);
    pcap_close(p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    int format = data[0] & 1 ? IPM_FORMAT_PCAPNG : IPM_FORMAT_PCAP;
    int link_type = link_types[(data[0] >> 1) & 3];
    size_t at = 1;
    count = 0;
    char err[IPM_ERRBUF_SIZE];
    fuzz_file_set(NULL, 0);
    ipm_writer *w = ipm_writer_open(fuzz_file_path(), format, NULL, err);
    FUZZ_CHECK(w != NULL, "ipm_writer_open: %s", err);
    while (size - at >= 13 && count < MAX_PACKETS) {
        const uint8_t *r = data + at;
        ipm_packet_event *ev = &packets[count].ev;
        memset(ev, 0, sizeof *ev);
        ev->adapter = names[link_type == DLT_RAW ? 0 : r[0] & 3];
        ev->direction = r[1] % 3 == 0 ? IPM_PACKET_DIRECTION_INCOMING
                        : r[1] % 3 == 1 ? IPM_PACKET_DIRECTION_OUTGOING
                                        : IPM_PACKET_DIRECTION_UNKNOWN;
        uint32_t caplen = (uint32_t)r[2] | (uint32_t)r[3] << 8;
        uint32_t secs, nsecs;
        memcpy(&secs, r + 5, 4);
        memcpy(&nsecs, r + 9, 4);
        at += 13;
        if (caplen > size - at)
            caplen = (uint32_t)(size - at);
        ev->data = data + at;
        ev->data_size = caplen;
        ev->packet_size = caplen + r[4];
        ev->time_stamp.tv_sec = (time_t)secs;
        ev->time_stamp.tv_nsec = (long)(nsecs % 1000000000u);
        ev->link_type = link_type;
        ev->adapter_index = link_type == DLT_RAW ? 0 : r[0] & 3;
        at += caplen;
        int rc = ipm_writer_write(w, ev);
        if (format == IPM_FORMAT_PCAP)
            FUZZ_CHECK(rc == IPM_OK, "classic pcap refused a packet of its one link type: %s",
                       ipm_writer_error(w));
        else
            FUZZ_CHECK(rc == IPM_OK, "pcapng refused a packet: %s", ipm_writer_error(w));
        count++;
    }
    FUZZ_CHECK(ipm_writer_packets(w) == count, "writer counts %lld packets, %d written",
               (long long)ipm_writer_packets(w), count);
    FUZZ_CHECK(ipm_writer_close(w) == IPM_OK, "closing the writer failed");
    if (count == 0)
        return 0; /* nothing to read back: a classic file has no header yet (no link
                   * type), a pcapng file a section header without interfaces */
    read_back_with_libpcap();

    ipm_monitor *m = ipm_new();
    FUZZ_CHECK(m != NULL, "ipm_new failed");
    reading rd = {0, format == IPM_FORMAT_PCAPNG};
    ipm_set_on_packet(m, on_packet, &rd);
    FUZZ_CHECK(ipm_activate(m, fuzz_file_path()) == IPM_OK, "the library cannot open the file written: %s",
               ipm_last_error(m));
    for (int i = 0; i < 4 && ipm_get_active(m) > 0; i++)
        FUZZ_CHECK(ipm_do_events(m) == IPM_OK, "reading back: %s", ipm_last_error(m));
    FUZZ_CHECK(rd.next == count, "the library read %d packets back, %d were written", rd.next, count);
    ipm_free(m);
    return 0;
}
