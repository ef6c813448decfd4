/*
 * fuzz_filter_config.c - fuzz target "filter_config": filter expressions
 * and config() strings, while the monitor is idle and while it is active on
 * a small capture file.
 *
 * The input is a list of operations: an operation byte, then a string up
 * to the next NUL. Operations: set_filter(string), config(string),
 * activate the file, do_events, deactivate, set_direction, set_operation_mode.
 * Checks: a call that fails leaves a message; the filter read back is the
 * last one accepted (a failed call changes nothing); config("NAME=VALUE")
 * returns "" when it succeeds.
 */
#include "fuzz.h"

#include <string.h>

#include "ipmonitor.h"

/* libpcap's optimiser can take seconds on long expressions (issue 9, item
 * 8): strings are cut here so that a run measures robustness, not that. */
#define MAX_STRING 256

/* A classic pcap file (microseconds, Ethernet) with three frames: an IPv4
 * UDP datagram to port 53, an IPv6 TCP SYN, an ARP request. */
static uint8_t file_bytes[512];
static size_t file_len;

static void put32(uint32_t v)
{
    memcpy(file_bytes + file_len, &v, 4);
    file_len += 4;
}
static void put_bytes(const void *p, size_t n)
{
    memcpy(file_bytes + file_len, p, n);
    file_len += n;
}
static void put_packet(const uint8_t *frame, uint32_t n, uint32_t sec)
{
    put32(sec);
    put32(1000);
    put32(n);
    put32(n);
    put_bytes(frame, n);
}

static void make_file(void)
{
    static const uint8_t udp4[] = {
        0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2, 0x08, 0x00,       /* Ethernet */
        0x45, 0, 0, 33, 0, 1, 0, 0, 64, 17, 0, 0, 10, 0, 0, 2, 10, 0, 0, 1, /* IPv4 */
        0x9c, 0x41, 0, 53, 0, 13, 0, 0, 'h', 'e', 'l', 'l', 'o'};           /* UDP */
    static const uint8_t tcp6[] = {
        0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2, 0x86, 0xdd,
        0x60, 0, 0, 0, 0, 20, 6, 64,
        0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1,
        0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2,
        0x15, 0xb3, 0x01, 0xbb, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, 0xfd, 0x20, 0, 0, 0, 0};
    static const uint8_t arp[] = {
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0, 0, 0, 0, 2, 0x08, 0x06,
        0, 1, 0x08, 0, 6, 4, 0, 1, 0x02, 0, 0, 0, 0, 2, 10, 0, 0, 2,
        0, 0, 0, 0, 0, 0, 10, 0, 0, 1};
    put32(0xa1b2c3d4);
    put32(0x00040002); /* version 2.4, little-endian fields */
    put32(0);
    put32(0);
    put32(65535);
    put32(1); /* DLT_EN10MB */
    put_packet(udp4, sizeof udp4, 1700000000);
    put_packet(tcp6, sizeof tcp6, 1700000001);
    put_packet(arp, sizeof arp, 1700000002);
}

static int on_packet(const ipm_packet_event *e, void *user)
{
    (void)e;
    (void)user;
    return 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    make_file();
    fuzz_file_set(file_bytes, file_len);
    return 0;
}

static void check_failure(ipm_monitor *m, const char *call, const char *arg)
{
    const char *msg = ipm_last_error(m);
    FUZZ_CHECK(msg && *msg, "%s(\"%s\") failed without a message", call, arg);
    FUZZ_CHECK(ipm_last_error_code(m) < 0, "%s(\"%s\") failed with error code %d", call, arg,
               ipm_last_error_code(m));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ipm_monitor *m = ipm_new();
    FUZZ_CHECK(m != NULL, "ipm_new failed");
    ipm_set_on_packet(m, on_packet, NULL);
    char expected_filter[MAX_STRING + 1] = "";
    size_t pos = 0;
    while (pos < size) {
        int op = data[pos++] % 7;
        char s[MAX_STRING + 1];
        size_t n = 0;
        while (pos < size && data[pos] != 0) {
            if (n < MAX_STRING)
                s[n++] = (char)data[pos];
            pos++;
        }
        pos++; /* the NUL */
        s[n] = '\0';
        switch (op) {
        case 0:
            if (ipm_set_filter(m, s) == IPM_OK)
                memcpy(expected_filter, s, n + 1);
            else
                check_failure(m, "set_filter", s);
            break;
        case 1: {
            const char *r = ipm_config(m, s);
            if (!r)
                check_failure(m, "config", s);
            else if (strchr(s, '='))
                FUZZ_CHECK(r[0] == '\0', "config(\"%s\") set and returned \"%s\"", s, r);
            else
                FUZZ_CHECK(strlen(r) < 65536, "config(\"%s\") result too long", s);
            break;
        }
        case 2:
            if (ipm_activate(m, fuzz_file_path()) != IPM_OK)
                check_failure(m, "activate", fuzz_file_path());
            break;
        case 3:
            ipm_do_events(m);
            break;
        case 4:
            FUZZ_CHECK(ipm_deactivate(m) == IPM_OK, "deactivate: %s", ipm_last_error(m));
            break;
        case 5:
            ipm_set_direction(m, (int)(unsigned char)s[0] % 4 - 1);
            break;
        case 6:
            ipm_set_operation_mode(m, s[0] & 1);
            break;
        }
        const char *f = ipm_get_filter(m);
        FUZZ_CHECK(f && strcmp(f, expected_filter) == 0,
                   "filter reads \"%s\", the last one accepted was \"%s\"", f ? f : "(null)",
                   expected_filter);
    }
    ipm_free(m);
    return 0;
}
