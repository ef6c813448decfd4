/*
 * test_writer.c - saving packets with ipm_writer_*: pcapng and classic
 * pcap files, judged by Wireshark's own tools (tshark, capinfos) and read
 * back by libpcap: every packet's bytes, lengths and nanosecond time, the
 * interface names, descriptions, MACs and addresses, each packet's
 * direction, several adapters in one file, the statistics blocks; and the
 * failures: a second link type in classic pcap, a full disk.
 *
 * Run one case: test_writer CASE (see --list). The live cases need root.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <pcap/pcap.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"

static char g_dir[64];

static void remove_dir(void)
{
    if (g_dir[0])
        nh_run("umount -q '%s/full' 2>/dev/null; rm -rf '%s'", g_dir, g_dir);
}

static const char *path_of(const char *name)
{
    static char p[4][128];
    static int k;
    if (!g_dir[0]) {
        snprintf(g_dir, sizeof g_dir, "/tmp/ipm-writer-XXXXXX");
        REQUIRE(mkdtemp(g_dir) != NULL);
        atexit(remove_dir);
    }
    k = (k + 1) % 4;
    snprintf(p[k], sizeof p[k], "%s/%s", g_dir, name);
    return p[k];
}

/* The output of a shell command (at most size-1 bytes); its exit status. */
static int run_output(char *out, size_t size, const char *fmt, ...)
{
    char cmd[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    FILE *p = popen(cmd, "r");
    REQUIRE(p != NULL);
    size_t n = fread(out, 1, size - 1, p);
    out[n] = '\0';
    return pclose(p);
}

static int count_lines(const char *s, const char *needle)
{
    int n = 0;
    for (const char *line = s; *line;) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        if (!needle || (memmem(line, len, needle, strlen(needle)) != NULL))
            n++;
        line += len + (end ? 1 : 0);
    }
    return n;
}

/* A made-up Ethernet/IPv4/UDP frame with `payload` bytes, numbered seq. */
static uint32_t frame(uint8_t *f, uint32_t payload, int seq)
{
    static const uint8_t hdr[34] = {
        0x02, 0x77, 0, 0, 0, 1, 0x02, 0x77, 0, 0, 0, 2, 0x08, 0x00,
        0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 17, 0, 0, 10, 0, 0, 2, 10, 0, 0, 1};
    memcpy(f, hdr, sizeof hdr);
    uint32_t iplen = 28 + payload;
    f[16] = (uint8_t)(iplen >> 8);
    f[17] = (uint8_t)iplen;
    uint8_t *u = f + 34;
    u[0] = 0x0f, u[1] = 0xa0, u[2] = 0x13, u[3] = 0x88;
    u[4] = (uint8_t)((8 + payload) >> 8), u[5] = (uint8_t)(8 + payload), u[6] = u[7] = 0;
    make_payload(u + 8, payload, seq);
    return 42 + payload;
}

/* Events as a capture would deliver them: sizes, times (with nanoseconds),
 * directions in turn, adapter "eth-test". */
enum { N = 300 };
static uint8_t g_frames[N][1600];
static ipm_packet_event g_events[N];

static void make_events(const char *adapter, int link_type)
{
    for (int i = 0; i < N; i++) {
        ipm_packet_event *e = &g_events[i];
        uint32_t len = frame(g_frames[i], (uint32_t)(i * 37 % 1400) + 1, i);
        e->time_stamp.tv_sec = 1700000000 + i / 10;
        e->time_stamp.tv_nsec = (long)(i % 10) * 100000000 + 123456789 % 100000000 + i;
        e->packet_size = len + (i % 7 == 0 ? 100 : 0); /* some cut by a snapshot */
        e->data = g_frames[i];
        e->data_size = len;
        e->direction = i % 3 == 0   ? IPM_PACKET_DIRECTION_INCOMING
                       : i % 3 == 1 ? IPM_PACKET_DIRECTION_OUTGOING
                                    : IPM_PACKET_DIRECTION_UNKNOWN;
        e->adapter_index = -1;
        e->adapter = adapter;
        e->link_type = link_type;
    }
}

/* libpcap reads back exactly the events written: bytes, lengths, ns times. */
static void check_read_back(const char *path, int n)
{
    char err[PCAP_ERRBUF_SIZE];
    pcap_t *p = pcap_open_offline_with_tstamp_precision(path, PCAP_TSTAMP_PRECISION_NANO, err);
    if (!p) {
        t_fail(__FILE__, __LINE__, "libpcap cannot read %s: %s", path, err);
        return;
    }
    struct pcap_pkthdr *h;
    const u_char *data;
    int i = 0, bad = 0;
    while (pcap_next_ex(p, &h, &data) == 1) {
        const ipm_packet_event *e = &g_events[i % N];
        if (h->ts.tv_sec != e->time_stamp.tv_sec || h->ts.tv_usec != e->time_stamp.tv_nsec ||
            h->caplen != e->data_size || h->len != e->packet_size ||
            memcmp(data, e->data, h->caplen) != 0)
            bad++;
        i++;
    }
    CHECK_INT(i, ==, n);
    CHECK_INT(bad, ==, 0);
    pcap_close(p);
}

static void t_pcapng_file(void)
{
    const char *path = path_of("out.pcapng");
    make_events("eth-test", DLT_EN10MB);
    char err[IPM_ERRBUF_SIZE];
    ipm_writer *w = ipm_writer_open(path, IPM_FORMAT_PCAPNG, NULL, err);
    REQUIRE(w != NULL);
    for (int i = 0; i < N; i++)
        CHECK_INT(ipm_writer_write(w, &g_events[i]), ==, IPM_OK);
    CHECK_INT(ipm_writer_packets(w), ==, N);
    CHECK_STR(ipm_writer_error(w), "");
    CHECK_INT(ipm_writer_close(w), ==, IPM_OK);
    check_read_back(path, N);

    /* Wireshark's reading: names, directions, lengths, nanosecond times */
    static char out[1 << 16];
    CHECK_INT(run_output(out, sizeof out,
                         "tshark -r '%s' -T fields -e frame.interface_name "
                         "-e frame.packet_flags_direction -e frame.len -e frame.cap_len "
                         "-e frame.time_epoch 2>/dev/null",
                         path), ==, 0);
    CHECK_INT(count_lines(out, NULL), ==, N);
    int in = 0, outgoing = 0, unknown = 0, i = 0;
    for (char *save = NULL, *line = strtok_r(out, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save), i++) {
        char name[64], dir[16], t[64];
        unsigned len, caplen;
        int fields = sscanf(line, "%63s %15s %u %u %63s", name, dir, &len, &caplen, t);
        if (fields == 4) { /* no direction: the field is empty */
            sscanf(line, "%63s %u %u %63s", name, &len, &caplen, t);
            strcpy(dir, "");
        }
        CHECK_STR(name, "eth-test");
        if (i < N) {
            CHECK_INT(len, ==, g_events[i].packet_size);
            CHECK_INT(caplen, ==, g_events[i].data_size);
            char want[64];
            snprintf(want, sizeof want, "%ld.%09ld", (long)g_events[i].time_stamp.tv_sec,
                     g_events[i].time_stamp.tv_nsec);
            CHECK_STR(t, want);
        }
        unsigned long d = strtoul(dir, NULL, 0); /* tshark prints 0x00000001 */
        in += d == 1;
        outgoing += d == 2;
        unknown += d == 0;
    }
    CHECK_INT(in, ==, N / 3);
    CHECK_INT(outgoing, ==, N / 3);
    CHECK_INT(unknown, ==, N / 3);
    /* capinfos: the format, the count, one interface, its statistics block */
    CHECK_INT(run_output(out, sizeof out, "capinfos -M '%s' 2>/dev/null", path), ==, 0);
    printf("%s", out);
    CHECK_CONTAINS(out, "pcapng");
    CHECK_CONTAINS(out, "Number of packets:   300");
    CHECK_CONTAINS(out, "Number of interfaces in file: 1");
    CHECK_CONTAINS(out, "Name = eth-test");
    CHECK_CONTAINS(out, "Time precision = nanoseconds");
    CHECK_CONTAINS(out, "Number of stat entries = 1");
    /* the section header says who wrote it, on what */
    CHECK_INT(run_output(out, sizeof out, "capinfos '%s' 2>/dev/null", path), ==, 0);
    CHECK_CONTAINS(out, "Capture application: ipmonitor " IPM_VERSION_STRING);
    CHECK_CONTAINS(out, "Capture oper-sys:    ");
    CHECK_CONTAINS(out, "Capture hardware:    ");
}

static void t_pcap_file(void)
{
    const char *path = path_of("out.pcap");
    make_events("eth-test", DLT_EN10MB);
    char err[IPM_ERRBUF_SIZE];
    ipm_writer *w = ipm_writer_open(path, IPM_FORMAT_PCAP, NULL, err);
    REQUIRE(w != NULL);
    for (int i = 0; i < N; i++)
        CHECK_INT(ipm_writer_write(w, &g_events[i]), ==, IPM_OK);
    /* classic pcap holds one link type: another is refused, and the file
     * goes on with the first */
    ipm_packet_event other = g_events[0];
    other.link_type = DLT_RAW;
    CHECK_INT(ipm_writer_write(w, &other), ==, IPM_E_UNSUPPORTED);
    CHECK_CONTAINS(ipm_writer_error(w), "pcapng");
    CHECK_INT(ipm_writer_write(w, &g_events[0]), ==, IPM_OK);
    /* another adapter of the same link type goes in (as "any" names each
     * packet's own interface): the file has no interfaces to tell apart */
    ipm_packet_event same_type = g_events[1];
    same_type.adapter = "eth-other";
    CHECK_INT(ipm_writer_write(w, &same_type), ==, IPM_OK);
    CHECK_INT(ipm_writer_close(w), ==, IPM_OK);
    check_read_back(path, N + 2);
    static char out[4096];
    CHECK_INT(run_output(out, sizeof out, "capinfos -t -c -i '%s' 2>/dev/null", path), ==, 0);
    CHECK_CONTAINS(out, "File type:           Wireshark/tcpdump/... - nanosecond pcap");
    CHECK_CONTAINS(out, "Number of packets:   302");

    /* a link type whose file value differs (DLT_RAW 12 is LINKTYPE_RAW 101) */
    make_events("raw", DLT_RAW);
    for (int i = 0; i < N; i++) { /* the IPv4 part of each frame */
        g_events[i].data += 14;
        g_events[i].data_size -= 14;
        g_events[i].packet_size -= 14;
    }
    w = ipm_writer_open(path, IPM_FORMAT_PCAP, NULL, err);
    REQUIRE(w != NULL);
    for (int i = 0; i < 5; i++)
        CHECK_INT(ipm_writer_write(w, &g_events[i]), ==, IPM_OK);
    CHECK_INT(ipm_writer_close(w), ==, IPM_OK);
    CHECK_INT(run_output(out, sizeof out, "tshark -r '%s' -T fields -e ip.dst 2>/dev/null | sort -u",
                         path), ==, 0);
    CHECK_STR(out, "10.0.0.1\n");
}

/* Two adapters of two link types in one pcapng file, interleaved. */
static void t_pcapng_two_link_types(void)
{
    const char *path = path_of("two.pcapng");
    make_events("eth-test", DLT_EN10MB);
    char err[IPM_ERRBUF_SIZE];
    ipm_writer *w = ipm_writer_open(path, IPM_FORMAT_PCAPNG, NULL, err);
    REQUIRE(w != NULL);
    for (int i = 0; i < 20; i++) {
        ipm_packet_event e = g_events[i];
        if (i % 2) {
            e.adapter = "raw-test";
            e.link_type = DLT_RAW;
            e.data += 14;
            e.data_size -= 14;
            e.packet_size -= 14;
        }
        CHECK_INT(ipm_writer_write(w, &e), ==, IPM_OK);
    }
    CHECK_INT(ipm_writer_close(w), ==, IPM_OK);
    static char out[1 << 14];
    CHECK_INT(run_output(out, sizeof out,
                         "tshark -r '%s' -T fields -e frame.interface_name -e ip.dst 2>/dev/null",
                         path), ==, 0);
    CHECK_INT(count_lines(out, "eth-test\t10.0.0.1"), ==, 10);
    CHECK_INT(count_lines(out, "raw-test\t10.0.0.1"), ==, 10);
    CHECK_INT(run_output(out, sizeof out, "capinfos -M '%s' 2>/dev/null", path), ==, 0);
    CHECK_CONTAINS(out, "Number of interfaces in file: 2");
    CHECK_CONTAINS(out, "Encapsulation = Raw IP");
    CHECK_CONTAINS(out, "Encapsulation = Ethernet");
}

/* The largest packet a capture gives (262144 bytes) fits the writer's
 * buffer with its block around it, in both formats, twice in a row (the
 * second after a flush), and reads back whole. */
static void t_largest_packet(void)
{
    static uint8_t big[262144];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (uint8_t)(i * 7);
    ipm_packet_event e = {.data = big, .data_size = sizeof big, .packet_size = sizeof big,
                          .adapter = "big0", .link_type = DLT_EN10MB,
                          .direction = IPM_PACKET_DIRECTION_INCOMING};
    for (int format = IPM_FORMAT_PCAP; format <= IPM_FORMAT_PCAPNG; format++) {
        const char *path = path_of(format == IPM_FORMAT_PCAP ? "big.pcap" : "big.pcapng");
        char err[IPM_ERRBUF_SIZE];
        ipm_writer *w = ipm_writer_open(path, format, NULL, err);
        REQUIRE(w != NULL);
        CHECK_INT(ipm_writer_write(w, &e), ==, IPM_OK);
        CHECK_INT(ipm_writer_write(w, &e), ==, IPM_OK);
        CHECK_INT(ipm_writer_close(w), ==, IPM_OK);
        char perr[PCAP_ERRBUF_SIZE];
        pcap_t *p = pcap_open_offline(path, perr);
        REQUIRE(p != NULL);
        struct pcap_pkthdr *h;
        const u_char *d;
        int n = 0;
        while (pcap_next_ex(p, &h, &d) == 1) {
            CHECK_INT(h->caplen, ==, sizeof big);
            CHECK(memcmp(d, big, sizeof big) == 0);
            n++;
        }
        CHECK_INT(n, ==, 2);
        pcap_close(p);
    }
}

/* A full disk: the first failure with the system's reason, kept for every
 * later call; the file holds whole blocks only up to where the disk did. */
static void t_full_disk(void)
{
    if (geteuid() != 0) {
        printf("SKIP: mounting a small tmpfs needs root\n");
        return;
    }
    const char *dir = path_of("full");
    REQUIRE(mkdir(dir, 0700) == 0);
    REQUIRE(mount("tmpfs", dir, "tmpfs", 0, "size=64k") == 0);
    char path[160];
    snprintf(path, sizeof path, "%s/out.pcapng", dir);
    make_events("eth-test", DLT_EN10MB);
    char err[IPM_ERRBUF_SIZE];
    ipm_writer *w = ipm_writer_open(path, IPM_FORMAT_PCAPNG, NULL, err);
    REQUIRE(w != NULL);
    int rc = IPM_OK, written = 0;
    for (int round = 0; round < 20 && rc == IPM_OK; round++)
        for (int i = 0; i < N && rc == IPM_OK; i++)
            if ((rc = ipm_writer_write(w, &g_events[i])) == IPM_OK)
                written++;
    if (rc == IPM_OK)
        rc = ipm_writer_flush(w);
    CHECK_INT(rc, ==, IPM_E_FILE);
    CHECK_CONTAINS(ipm_writer_error(w), "No space left on device");
    CHECK_INT(ipm_writer_write(w, &g_events[0]), ==, IPM_E_FILE);
    CHECK_INT(ipm_writer_os_error(w), ==, ENOSPC);
    int64_t saved = ipm_writer_packets_saved(w);
    CHECK(saved > 0 && saved < written);
    CHECK_INT(ipm_writer_close(w), ==, IPM_E_FILE);
    /* The file holds exactly the packets the writer says are saved, whole. */
    char perr[PCAP_ERRBUF_SIZE];
    pcap_t *p = pcap_open_offline(path, perr);
    REQUIRE(p != NULL);
    struct pcap_pkthdr *h;
    const u_char *d;
    int64_t in_file = 0;
    while (pcap_next_ex(p, &h, &d) == 1)
        in_file++;
    pcap_close(p);
    CHECK_INT(in_file, ==, saved);
    printf("full disk after %d packets accepted, %lld saved whole, %lld in the file\n", written,
           (long long)saved, (long long)in_file);
    umount(dir);
    /* and /dev/full through fdopen */
    FILE *f = fopen("/dev/full", "w");
    REQUIRE(f != NULL);
    w = ipm_writer_fdopen(dup(fileno(f)), IPM_FORMAT_PCAP, NULL, err);
    fclose(f);
    REQUIRE(w != NULL);
    CHECK_INT(ipm_writer_write(w, &g_events[0]), ==, IPM_OK); /* buffered */
    CHECK_INT(ipm_writer_packets_saved(w), ==, 0);
    CHECK_INT(ipm_writer_flush(w), ==, IPM_E_FILE);
    CHECK_INT(ipm_writer_packets_saved(w), ==, 0);
    CHECK_CONTAINS(ipm_writer_error(w), "No space left on device");
    CHECK_INT(ipm_writer_close(w), ==, IPM_E_FILE);
    /* bad arguments */
    CHECK(ipm_writer_open("/nonexistent-dir/x.pcapng", IPM_FORMAT_PCAPNG, NULL, err) == NULL);
    CHECK_CONTAINS(err, "No such file or directory");
    CHECK(ipm_writer_open(path_of("x"), 7, NULL, err) == NULL);
    CHECK_CONTAINS(err, "IPM_FORMAT_PCAPNG");
    CHECK_INT(ipm_writer_write(NULL, &g_events[0]), ==, IPM_E_INVALID_ARGUMENT);
    CHECK_INT(ipm_writer_close(NULL), ==, IPM_E_INVALID_ARGUMENT);
}

/* Live, through a monitor: the interface block carries what the monitor
 * knows of the adapter, every packet its direction, and the statistics
 * block the capture's counts; in on_packet, as an application would. */
/* The first interface block's if_MACaddr, first if_IPv4addr and first
 * if_IPv6addr options of a pcapng file in this machine's byte order: 0, or
 * -1 when one is missing. */
static int idb_options(const char *path, uint8_t mac[6], uint8_t v4[8], uint8_t v6[17])
{
    static uint8_t buf[1 << 16];
    FILE *f = fopen(path, "rb");
    REQUIRE(f != NULL);
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    int found = 0;
    for (size_t at = 0; at + 12 <= n;) {
        uint32_t type, len;
        memcpy(&type, buf + at, 4);
        memcpy(&len, buf + at + 4, 4);
        if (len < 12 || at + len > n)
            break;
        if (type == 1) { /* IDB: options after link type, reserved, snaplen */
            for (size_t o = at + 16; o + 4 <= at + len - 4;) {
                uint16_t code, olen;
                memcpy(&code, buf + o, 2);
                memcpy(&olen, buf + o + 2, 2);
                if (code == 0)
                    break;
                const uint8_t *v = buf + o + 4;
                if (code == 6 && olen == 6 && !(found & 1))
                    memcpy(mac, v, 6), found |= 1;
                if (code == 4 && olen == 8 && !(found & 2))
                    memcpy(v4, v, 8), found |= 2;
                if (code == 5 && olen == 17 && !(found & 4))
                    memcpy(v6, v, 17), found |= 4;
                o += 4 + (olen + 3u) / 4 * 4;
            }
            break;
        }
        at += len;
    }
    return found == 7 ? 0 : -1;
}

typedef struct live_writer {
    ipm_writer *w;
    int written, failed;
} live_writer;

static int write_on_packet(const ipm_packet_event *e, void *user)
{
    live_writer *lw = user;
    if (ipm_writer_write(lw->w, e) == IPM_OK)
        lw->written++;
    else
        lw->failed++;
    return 0;
}

static void t_live_pcapng(void)
{
    if (geteuid() != 0) {
        printf("SKIP: network namespaces need root\n");
        return;
    }
    t_live f;
    t_live_setup(&f, (t_live_opts){.filter = "udp", .timeout_ms = 50});
    const char *path = path_of("live.pcapng");
    char err[IPM_ERRBUF_SIZE];
    live_writer lw = {.w = ipm_writer_open(path, IPM_FORMAT_PCAPNG, f.m, err)};
    REQUIRE(lw.w != NULL);
    CHECK_OK(f.m, ipm_set_on_packet(f.m, write_on_packet, &lw));
    CHECK_OK(f.m, ipm_activate(f.m, T.a.ifname));
    two_way w;
    two_way_open(&w);
    two_way_send(&w, 6, 4); /* 6 in (b -> a), 4 out (a -> b) */
    CHECK_OK(f.m, pump_until(f.m, &lw.written, 10, 5000));
    CHECK_OK(f.m, pump_for(f.m, 200));
    two_way_close(&w);
    CHECK_INT(lw.written, ==, 10);
    CHECK_INT(lw.failed, ==, 0);
    CHECK_OK(f.m, ipm_deactivate(f.m));
    CHECK_INT(ipm_writer_close(lw.w), ==, IPM_OK);
    static char out[1 << 14];
    CHECK_INT(run_output(out, sizeof out,
                         "tshark -r '%s' -T fields -e frame.interface_name "
                         "-e frame.packet_flags_direction -e ip.src 2>/dev/null",
                         path), ==, 0);
    printf("%s", out);
    char in_line[128], out_line[128];
    snprintf(in_line, sizeof in_line, "%s\t0x00000001\t%s", T.a.ifname, T.b.ip4);
    snprintf(out_line, sizeof out_line, "%s\t0x00000002\t%s", T.a.ifname, T.a.ip4);
    int in = count_lines(out, in_line), outgoing = count_lines(out, out_line);
    CHECK_INT(in, ==, 6);
    CHECK_INT(outgoing, ==, 4);
    CHECK_INT(run_output(out, sizeof out, "capinfos -M '%s' 2>/dev/null", path), ==, 0);
    printf("%s", out);
    char want[160];
    snprintf(want, sizeof want, "Name = %s", T.a.ifname);
    CHECK_CONTAINS(out, want);
    CHECK_CONTAINS(out, "Capture length = 262144");
    CHECK_CONTAINS(out, "Filter string = udp");
    CHECK_CONTAINS(out, "Number of stat entries = 1");
#ifndef IPM_TEST_PLATFORM_POSIX /* POSIX does not tell the link kind */
    CHECK_CONTAINS(out, "Description = Virtual Ethernet pair (veth)");
#endif
    /* The MAC and addresses of the adapter (this tshark and capinfos do not
     * print those options): read from the interface block itself. */
    uint8_t mac[6], v4[8], v6[17];
    REQUIRE(idb_options(path, mac, v4, v6) == 0);
    CHECK(mac_is(mac, T.a.mac));
    char text[64];
    CHECK_STR(inet_ntop(AF_INET, v4, text, sizeof text), T.a.ip4);
    CHECK_STR(inet_ntop(AF_INET, v4 + 4, text, sizeof text), "255.255.255.0");
    CHECK_STR(inet_ntop(AF_INET6, v6, text, sizeof text), T.a.ip6);
    CHECK_INT(v6[16], ==, 64);
    t_live_teardown(&f);
}

static const t_case CASES[] = {
    {"largest_packet", t_largest_packet},
    {"pcapng_file", t_pcapng_file},
    {"pcap_file", t_pcap_file},
    {"pcapng_two_link_types", t_pcapng_two_link_types},
    {"full_disk", t_full_disk},
    {"live_pcapng", t_live_pcapng},
    {NULL, NULL},
};

int main(int argc, char **argv)
{
    return t_main(argc, argv, CASES, 0);
}
