/*
 * bench_common.h - small helpers shared by the bench programs: clocks, CPU
 * time, stop-on-signal and the one-line JSON result every program prints so
 * that bench.py can parse them all the same way. Header-only on purpose: the
 * programs are single files and nothing here is on a per-packet path.
 */
#ifndef BENCH_COMMON_H
#define BENCH_COMMON_H

#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

/* Set by SIGINT/SIGTERM; live loops poll it between batches. */
static volatile sig_atomic_t bench_stop_requested;

static inline void bench_on_signal(int sig)
{
    (void)sig;
    bench_stop_requested = 1;
}

/* Install a SIGINT/SIGTERM handler without SA_RESTART so a blocked poll()
 * returns. */
static inline void bench_install_handler(void (*handler)(int))
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = handler;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

static inline void bench_install_stop_handler(void)
{
    bench_install_handler(bench_on_signal);
}

static inline double bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static inline double bench_tv(struct timeval tv)
{
    return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

/* What every program reports; -1 marks a figure that does not apply. */
typedef struct bench_result {
    const char *prog;
    const char *mode;
    uint64_t packets;
    uint64_t bytes;
    double seconds;   /* wall time of open + read loop */
    int64_t kernel_drops;
    int64_t if_drops;
    int64_t received; /* pcap_stats ps_recv / ipm received */
} bench_result;

/* Peak RSS of this process image in KB (VmHWM). Unlike ru_maxrss it does
 * not count the memory of the parent that forked us before exec. */
static inline long bench_vm_hwm_kb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmHWM: %ld kB", &kb) == 1)
            break;
    if (f)
        fclose(f);
    return kb;
}

/* One JSON line on stdout: the driver's only interface to the programs. */
static inline void bench_print_result(const bench_result *r)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double pps = r->seconds > 0 ? (double)r->packets / r->seconds : 0.0;
    printf("{\"prog\": \"%s\", \"mode\": \"%s\", \"packets\": %llu, \"bytes\": %llu, "
           "\"seconds\": %.6f, \"pps\": %.1f, \"cpu_user\": %.6f, \"cpu_sys\": %.6f, "
           "\"vm_hwm_kb\": %ld, \"received\": %lld, \"kernel_drops\": %lld, \"if_drops\": %lld}\n",
           r->prog, r->mode, (unsigned long long)r->packets, (unsigned long long)r->bytes,
           r->seconds, pps, bench_tv(ru.ru_utime), bench_tv(ru.ru_stime), bench_vm_hwm_kb(),
           (long long)r->received, (long long)r->kernel_drops, (long long)r->if_drops);
    fflush(stdout);
}

/* Live programs say on stderr when capture is set up, so the driver knows
 * when to start the traffic. */
static inline void bench_announce_ready(const char *what)
{
    fprintf(stderr, "ready: %s\n", what);
    fflush(stderr);
}

/* The options both capturing programs take: -r FILE | -i IFACE, -f FILTER,
 * -B KB, -s SNAPLEN, -t MS, -c COUNT, plus one flag of each program's own
 * (ipm_bench --mode, raw_pcap_loop --bigbuf) handled by `extra`. */
typedef struct bench_options {
    const char *file;
    const char *iface;
    const char *filter;
    int buffer_kb, snaplen, timeout_ms; /* see each program's defaults */
    long long limit; /* live: stop after this many packets; 0: never */
    int stat_mode;   /* ipm_bench --mode stat */
    int bigbuf;      /* raw_pcap_loop --bigbuf FILE */
} bench_options;

static inline int bench_int_arg(const char *prog, const char *s)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (*s == '\0' || *end || v < 0 || v > 1 << 30) {
        fprintf(stderr, "%s: '%s' is not a non-negative integer\n", prog, s);
        exit(2);
    }
    return (int)v;
}

/* Every flag takes a value. `extra` returns 1 when it took the flag, 0 when
 * the flag is not its own, -1 when its value is bad; then usage() exits. */
static inline bench_options bench_parse(int argc, char **argv, bench_options o, const char *prog,
                                        int (*extra)(bench_options *, const char *, const char *),
                                        void (*usage)(void))
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (i + 1 >= argc)
            usage();
        const char *v = argv[++i];
        int took = extra(&o, a, v);
        if (took < 0)
            usage();
        if (took)
            continue;
        if (strcmp(a, "-r") == 0)
            o.file = v;
        else if (strcmp(a, "-i") == 0)
            o.iface = v;
        else if (strcmp(a, "-f") == 0)
            o.filter = v;
        else if (strcmp(a, "-B") == 0)
            o.buffer_kb = bench_int_arg(prog, v);
        else if (strcmp(a, "-s") == 0)
            o.snaplen = bench_int_arg(prog, v);
        else if (strcmp(a, "-t") == 0)
            o.timeout_ms = bench_int_arg(prog, v);
        else if (strcmp(a, "-c") == 0)
            o.limit = bench_int_arg(prog, v);
        else
            usage();
    }
    if (!o.file == !o.iface)
        usage();
    return o;
}

#endif /* BENCH_COMMON_H */
