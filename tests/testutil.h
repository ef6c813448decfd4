/*
 * testutil.h - what every C test of libipmonitor shares: a tiny assertion
 * layer (a failure is recorded and the test goes on, or ends through exit()
 * so the namespaces are still removed), a case table run by name, packet
 * and statistics collectors for the callbacks, the fixture of a live case
 * (namespace pair, monitor, collectors, sockets in one call), do_events loops
 * bounded by a deadline, UDP traffic helpers and the checks the live test
 * programs share, a frame parser, and a tcpdump cross-check.
 */
#ifndef IPM_TESTUTIL_H
#define IPM_TESTUTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "ipmonitor.h"
#include "netns_harness.h"

/* ---------------- assertions ---------------- */

extern int t_failures;
void t_fail(const char *file, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#define CHECK(cond)                                                 \
    do {                                                            \
        if (!(cond))                                                \
            t_fail(__FILE__, __LINE__, "CHECK(%s)", #cond);         \
    } while (0)

#define CHECK_INT(a, op, b)                                                         \
    do {                                                                            \
        long long a_ = (long long)(a), b_ = (long long)(b);                         \
        if (!(a_ op b_))                                                            \
            t_fail(__FILE__, __LINE__, "%s %s %s  (%lld vs %lld)", #a, #op, #b, a_, b_); \
    } while (0)

#define CHECK_STR(a, b)                                                             \
    do {                                                                            \
        const char *a_ = (a), *b_ = (b);                                            \
        if (!a_ || !b_ || strcmp(a_, b_) != 0)                                      \
            t_fail(__FILE__, __LINE__, "%s == %s  (\"%s\" vs \"%s\")", #a, #b,      \
                   a_ ? a_ : "(null)", b_ ? b_ : "(null)");                         \
    } while (0)

/* The string contains the substring, case-insensitively. */
#define CHECK_CONTAINS(hay, needle)                                                 \
    do {                                                                            \
        const char *h_ = (hay), *n_ = (needle);                                     \
        if (!h_ || !strcasestr(h_, n_))                                             \
            t_fail(__FILE__, __LINE__, "\"%s\" contains \"%s\"", h_ ? h_ : "(null)", n_); \
    } while (0)

/* An ipm call that must succeed; prints the monitor's message if not. */
#define CHECK_OK(m, call)                                                           \
    do {                                                                            \
        int rc_ = (call);                                                           \
        if (rc_ != 0)                                                               \
            t_fail(__FILE__, __LINE__, "%s -> %d (%s)", #call, rc_, ipm_last_error(m)); \
    } while (0)

/* An ipm call that must fail with `code` and leave a non-empty message. */
#define CHECK_ERR(m, call, code)                                                    \
    do {                                                                            \
        int rc_ = (call);                                                           \
        if (rc_ != (code))                                                          \
            t_fail(__FILE__, __LINE__, "%s -> %d, expected %s (%d); message \"%s\"", \
                   #call, rc_, #code, (int)(code), ipm_last_error(m));               \
        else if (ipm_last_error_code(m) != (code) || !ipm_last_error(m)[0])         \
            t_fail(__FILE__, __LINE__, "%s: last_error_code %d, message \"%s\"",     \
                   #call, ipm_last_error_code(m), ipm_last_error(m));                \
    } while (0)

/* Stop the test now (exit runs the namespace cleanup). */
#define REQUIRE(cond)                                                               \
    do {                                                                            \
        if (!(cond)) {                                                              \
            t_fail(__FILE__, __LINE__, "REQUIRE(%s)", #cond);                       \
            exit(1);                                                                \
        }                                                                           \
    } while (0)

/* ---------------- cases ---------------- */

typedef struct t_case {
    const char *name;
    void (*fn)(void);
} t_case;

/* Run the case named argv[1] (or all, or list them with "--list"); returns
 * the exit status: 0 pass, 1 fail, 77 skipped (not root).
 * Each program's CASES[] table is the one list of its cases: CMake reads the
 * entries from the source to make the ctest entries, so write each on its
 * own line as  {"name", t_function},  (the build checks that --list agrees). */
int t_main(int argc, char **argv, const t_case *cases, int need_root);

/* ---------------- a live test's setup ---------------- */

/* The pair every live test uses; the test process is inside `a`. */
extern nh_pair T;
/* Create the pair, enter `a`, arm the watchdog. Ends the test on failure. */
void t_setup_pair(void);

/* A monitor with short timeouts for tests: packet_timeout `timeout_ms` on
 * every listed adapter (after list_adapters), filter `filter`. */
ipm_monitor *t_new_monitor(const char *filter, int timeout_ms);
/* IPM_TEST_STATISTICS_ENGINE (kernel or ring), which t_new_monitor sets as
 * config StatisticsEngine, or NULL when unset (the default, auto). */
const char *t_statistics_engine(void);
/* Fails the case unless the engine asked for counts every adapter of `m`
 * (when `m` is active in statistics mode and an engine was asked for). */
void t_check_engine(ipm_monitor *m);

/* ---------------- collectors ---------------- */

#define CAP_DATA_MAX 2048
typedef struct cap_pkt {
    struct timespec ts;
    uint32_t packet_size, data_size;
    int direction, adapter_index, link_type;
    char adapter[64];
    uint8_t data[CAP_DATA_MAX];
} cap_pkt;

typedef struct capture {
    cap_pkt *p;
    int n, max;
    ipm_monitor *m;          /* for stop_after */
    int stop_after;          /* deactivate from the callback at this count */
    int active_after_stop;   /* ipm_get_active right after that deactivate */
    int stop_rc;
    int calls_after_stop;
    int odd_result;          /* returned for the 2nd, 4th... packet */
    int errors;              /* on_error events */
    int last_error_code, last_handler_result, error_adapter_index;
    char last_error_desc[256];
} capture;

void cap_init(capture *c, int max);
void cap_free(capture *c);
int cap_on_packet(const ipm_packet_event *ev, void *user);
void cap_on_error(const ipm_error_event *ev, void *user);
/* Install both on m. */
void cap_attach(capture *c, ipm_monitor *m);

typedef struct statcol {
    int events, zero_events;
    int64_t packets, bytes, dropped;
    int64_t in_packets, out_packets, in_bytes, out_bytes;
    int64_t proto_packets[IPM_PROTO_COUNT], family_packets[IPM_FAMILY_COUNT];
    int64_t proto_bytes[IPM_PROTO_COUNT];
    /* the joint counts, summed over events */
    int64_t class_packets[IPM_DIRECTION_CLASSES][IPM_PROTO_COUNT][IPM_FAMILY_COUNT];
    int64_t class_bytes[IPM_DIRECTION_CLASSES][IPM_PROTO_COUNT][IPM_FAMILY_COUNT];
    int joint_mismatches;    /* detail events whose cells do not sum to the splits */
    int detail_events;
    int adapter_index;
    char adapter[64];
    struct timespec last_ts;
    int ts_backwards;
    int result;              /* returned by the callback */
    ipm_monitor *m;
    int stop_at_event;       /* deactivate from the callback at this event */
} statcol;

int stat_on_statistics(const ipm_statistics_event *ev, void *user);

/* ---------------- the fixture of a live case ---------------- */

#define T_PORT_A 7001     /* the UDP receiver in a */
#define T_PORT_A2 7003    /* a second receiver in a, for the filter cases */
#define T_PORT_B 7002     /* the UDP receiver in b */
#define T_TIMEOUT_MS 50   /* the packet timeout of the live cases */
#define T_BARE_MONITOR (-1) /* timeout_ms: a bare ipm_new(), see t_live_opts */

/* What a live case starts from. Zero fields take the defaults. */
typedef struct t_live_opts {
    const char *filter; /* set on the monitor (NULL: none) */
    int timeout_ms;     /* every listed adapter's packet timeout (0: T_TIMEOUT_MS);
                           T_BARE_MONITOR: ipm_new() alone, adapters not listed,
                           the library's default timeouts */
    int cap_max;        /* packets c keeps (0: 64) */
    int stats;          /* statistics mode, with s as on_statistics */
    int udp;            /* sockets: 0 none; 1 rx (a, T_PORT_A) and tx (b);
                           2 also rx2 (a, T_PORT_A2) */
} t_live_opts;

/* A monitor with its collectors, and the sockets a case sends through. */
typedef struct t_live {
    ipm_monitor *m;
    capture c;         /* on_packet and on_error of m (c.m == m) */
    statcol s;         /* on_statistics of m in statistics mode (s.m == m) */
    int rx, rx2, tx;   /* -1 where not opened */
} t_live;

/* The whole setup of a live case: t_setup_pair(), then t_live_monitor(),
 * then the sockets o.udp asks for. Nothing is activated: cases change
 * settings first. Ends the test on failure. */
void t_live_setup(t_live *f, t_live_opts o);
/* A monitor made by t_new_monitor(o.filter, o.timeout_ms) in the calling
 * thread's namespace, c attached, in statistics mode with s installed if
 * o.stats; no sockets. For a case's second monitor, after t_live_setup(). */
void t_live_monitor(t_live *f, t_live_opts o);
/* Start c afresh (no packets, no errors, the same room), still attached:
 * for cases that run several captures on one monitor. */
void t_live_reset(t_live *f);
/* Free the monitor and the collectors, close the sockets it opened. */
void t_live_teardown(t_live *f);

/* ---------------- pumping ---------------- */

/* Call do_events until *counter >= want, the monitor goes inactive, or
 * timeout_ms pass. Returns the first non-zero do_events result or 0. */
int pump_until(ipm_monitor *m, const int *counter, int want, int timeout_ms);
/* Same for a 64-bit counter. */
int pump_until64(ipm_monitor *m, const int64_t *counter, int64_t want, int timeout_ms);
/* Keep calling do_events for ms milliseconds (to see that nothing more comes). */
int pump_for(ipm_monitor *m, int ms);

/* ---------------- checks the live programs share ---------------- */

/* The index of the listed adapter `name` (a failed check if not listed). */
int adapter_index(ipm_monitor *m, const char *name);
/* The listed adapter i has every setting at its default. */
void check_adapter_defaults(ipm_monitor *m, int i);
/* The six bytes at d are the MAC written as "02:77:00:00:00:01". */
int mac_is(const uint8_t *d, const char *mac);
/* One captured UDP frame on Ethernet is what udp_send sent as number seq:
 * sizes, ports, direction, link type and payload. */
void check_udp_packet(const cap_pkt *p, int family, size_t plen_expected, int seq,
                      int sport, int dport, int direction);

/* UDP both ways over the pair: receivers on a:T_PORT_A and b:T_PORT_B. */
typedef struct two_way {
    int rx_a, rx_b, tx_a, tx_b;
} two_way;
void two_way_open(two_way *w);
/* `in` datagrams b->a and `out` datagrams a->b (200 bytes), interleaved;
 * checks that all were received. */
void two_way_send(two_way *w, int in, int out);
void two_way_close(two_way *w);

/* 3 datagrams of 64 bytes from f->tx to each of a's ports T_PORT_A and
 * T_PORT_A2 (f opened with .udp = 2), payloads from seq0; checks receipt. */
void send_both_ports(const t_live *f, int seq0);
/* How many of c's packets from index `from` on are UDP to `port`. */
int count_dport(const capture *c, int from, int port);

/* ---------------- traffic ---------------- */

/* A UDP socket made in `ns`, bound to port (0 = any) on the wildcard address. */
int udp_socket(const char *ns, int family, int port);
/* Fill buf with a payload recognizable as number `seq`. */
void make_payload(uint8_t *buf, size_t len, int seq);
/* Send n datagrams of sizes[i % nsizes] bytes, payload make_payload(i + seq0).
 * Returns the number sent. */
int udp_send(int s, const char *dst_ip, int port, int n, const size_t *sizes, int nsizes, int seq0);
/* Receive until n datagrams came or timeout; returns how many. */
int udp_drain(int s, int n, int timeout_ms);
/* Bytes on the wire of a UDP frame with this payload on Ethernet. */
uint32_t udp_frame_len(int family, size_t payload);

/* Parse an Ethernet frame down to UDP; returns 0 and sets the payload and
 * ports, or -1 if it is not UDP over IPv4/IPv6 (or truncated). */
int parse_udp(const uint8_t *d, uint32_t n, const uint8_t **payload, uint32_t *plen,
              int *sport, int *dport);
/* Offset of the IP header and the L4 protocol of an Ethernet frame (-1 if not IP). */
int parse_l4(const uint8_t *d, uint32_t n, int *l4_off, int *family);

/* ---------------- tcpdump cross-check ---------------- */

typedef struct tcpdump_run {
    pid_t pid;
    int errfd;
    char path[128];
} tcpdump_run;

/* Start tcpdump inside ns on ifname writing to a temp file; returns once it
 * says it is listening (or -1). */
int tcpdump_start(tcpdump_run *t, const char *ns, const char *ifname, const char *filter);
/* Stop it (SIGINT), read its file into c (which must be cap_init'ed). */
int tcpdump_finish(tcpdump_run *t, capture *c);

/* Compare two captures packet by packet (sizes and bytes), each link-layer
 * sender's packets in order (two sockets may interleave the two directions
 * differently); returns the number of mismatches and reports each. */
int compare_captures(const capture *a, const char *aname, const capture *b, const char *bname);

/* ts in nanoseconds */
static inline int64_t ts_ns(struct timespec t) { return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec; }
int64_t realtime_ns(void);

#endif
