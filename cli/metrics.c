/*
 * metrics.c - the exporter's counter store and the Prometheus text
 * exposition (format 0.0.4) written from a copy of it; see metrics.h for
 * the threading contract. The process_* metrics are read from /proc at
 * each scrape (a few small reads), as the Prometheus client libraries do.
 */
#include "metrics.h"

#include <dirent.h>
#include <pcap/pcap.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

/* ---- the store ---- */

int metrics_store_init(metrics_store *s, int capacity)
{
    memset(s, 0, sizeof *s);
    s->devices = calloc((size_t)capacity, sizeof *s->devices);
    if (!s->devices)
        return -1;
    s->capacity = capacity;
    pthread_mutex_init(&s->lock, NULL);
    return 0;
}

void metrics_store_free(metrics_store *s)
{
    if (!s->devices)
        return;
    pthread_mutex_destroy(&s->lock);
    free(s->devices);
    s->devices = NULL;
}

/* The device called `name`, or NULL; under the lock. Events come in the
 * same order every do_events, so the device after the last one found is
 * tried first: one comparison per event in the usual case. */
static metrics_device *find_locked(metrics_store *s, const char *name)
{
    if (s->count == 0)
        return NULL;
    int g = s->guess < s->count ? s->guess : 0;
    if (strcmp(s->devices[g].name, name) == 0) {
        s->guess = g + 1;
        return &s->devices[g];
    }
    for (int i = 0; i < s->count; i++) {
        if (strcmp(s->devices[i].name, name) == 0) {
            s->guess = i + 1;
            return &s->devices[i];
        }
    }
    return NULL;
}

static metrics_device *register_locked(metrics_store *s, const char *name)
{
    metrics_device *d = find_locked(s, name);
    if (d)
        return d;
    if (s->count == s->capacity)
        return NULL;
    d = &s->devices[s->count++];
    memset(d, 0, sizeof *d);
    snprintf(d->name, sizeof d->name, "%s", name);
    return d;
}

int metrics_register(metrics_store *s, const char *name)
{
    pthread_mutex_lock(&s->lock);
    metrics_device *d = register_locked(s, name);
    if (d) {
        d->up = 1;
        d->engine[0] = '\0';
    }
    pthread_mutex_unlock(&s->lock);
    return d ? 0 : -1;
}

void metrics_set_up(metrics_store *s, const char *name, int up)
{
    pthread_mutex_lock(&s->lock);
    metrics_device *d = find_locked(s, name);
    if (d)
        d->up = up;
    pthread_mutex_unlock(&s->lock);
}

void metrics_set_engine(metrics_store *s, const char *name, const char *engine)
{
    pthread_mutex_lock(&s->lock);
    metrics_device *d = find_locked(s, name);
    if (d)
        snprintf(d->engine, sizeof d->engine, "%s", engine);
    pthread_mutex_unlock(&s->lock);
}

int metrics_engine_known(metrics_store *s, const char *name)
{
    pthread_mutex_lock(&s->lock);
    metrics_device *d = find_locked(s, name);
    int known = d && d->engine[0];
    pthread_mutex_unlock(&s->lock);
    return known;
}

void metrics_add_event(metrics_store *s, const ipm_statistics_event *ev)
{
    if (!ev->adapter || (ev->captured_packets == 0 && ev->dropped == 0 && ev->adapter_dropped == 0))
        return;
    pthread_mutex_lock(&s->lock);
    /* An event's device is normally registered already (up): one counted
     * without is added, but up only changes by metrics_register and
     * metrics_set_up (a gone adapter's last packets, handed over after the
     * notice, must not set it up again). */
    metrics_device *d = register_locked(s, ev->adapter);
    if (!d) {
        s->overflow_events++;
        pthread_mutex_unlock(&s->lock);
        return;
    }
    /* Counters never go backwards: a negative difference (a kernel
     * counter reset) adds nothing. */
    if (ev->dropped > 0)
        d->dropped_kernel += ev->dropped;
    if (ev->adapter_dropped > 0)
        d->dropped_interface += ev->adapter_dropped;
    if (ev->captured_packets > 0) {
        const int64_t *p = &ev->class_packets[0][0][0], *b = &ev->class_bytes[0][0][0];
        int64_t *dp = &d->packets[0][0][0], *db = &d->bytes[0][0][0];
        for (size_t i = 0; i < sizeof d->packets / sizeof d->packets[0][0][0]; i++) {
            dp[i] += p[i];
            db[i] += b[i];
        }
    }
    pthread_mutex_unlock(&s->lock);
}

metrics_device *metrics_snapshot(metrics_store *s, int *count)
{
    *count = 0;
    pthread_mutex_lock(&s->lock);
    int n = s->count;
    metrics_device *copy = n ? malloc((size_t)n * sizeof *copy) : NULL;
    if (copy) {
        memcpy(copy, s->devices, (size_t)n * sizeof *copy);
        *count = n;
    }
    pthread_mutex_unlock(&s->lock);
    return copy;
}

/* ---- text ---- */

void textbuf_printf(textbuf *b, const char *fmt, ...)
{
    if (b->failed)
        return;
    for (;;) {
        size_t room = b->cap - b->len;
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->data ? b->data + b->len : NULL, b->data ? room : 0, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->failed = 1;
            return;
        }
        if (b->data && (size_t)n < room) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = b->cap ? b->cap : 4096;
        while (cap - b->len <= (size_t)n)
            cap *= 2;
        char *p = realloc(b->data, cap);
        if (!p) {
            b->failed = 1;
            return;
        }
        b->data = p;
        b->cap = cap;
    }
}

/* A label value as the text format wants it: \ " and newline escaped. */
static void escape_label(char *out, size_t cap, const char *in)
{
    size_t o = 0;
    for (; *in && o + 3 < cap; in++) {
        if (*in == '\\' || *in == '"') {
            out[o++] = '\\';
            out[o++] = *in;
        } else if (*in == '\n') {
            out[o++] = '\\';
            out[o++] = 'n';
        } else {
            out[o++] = *in;
        }
    }
    out[o] = '\0';
}

static const char *const direction_label[IPM_DIRECTION_CLASSES] = {"in", "out", "unknown"};
static const char *const protocol_label[IPM_PROTO_COUNT] = {"tcp", "udp", "icmp", "other"};
static const char *const family_label[IPM_FAMILY_COUNT] = {"ipv4", "ipv6", "other"};

/* Which cells are always written (even at 0), so that their series exist
 * from the first scrape and rate() sees the first packets: in and out, for
 * every protocol of IPv4 and IPv6, and "other" (non-IP) traffic. Direction
 * "unknown" and impossible pairs (TCP without IP) are written once non-zero. */
static int always_written(int d, int p, int f)
{
    return d != IPM_DIRCLASS_UNKNOWN && (f != IPM_FAMILY_OTHER || p == IPM_PROTO_OTHER);
}

static void format_class_counter(textbuf *b, const char *name, const char *help,
                                 const metrics_device *devs, int count, int bytes)
{
    textbuf_printf(b, "# HELP %s %s\n# TYPE %s counter\n", name, help, name);
    for (int i = 0; i < count; i++) {
        char dev[160];
        escape_label(dev, sizeof dev, devs[i].name);
        for (int d = 0; d < IPM_DIRECTION_CLASSES; d++)
            for (int p = 0; p < IPM_PROTO_COUNT; p++)
                for (int f = 0; f < IPM_FAMILY_COUNT; f++) {
                    int64_t v = bytes ? devs[i].bytes[d][p][f] : devs[i].packets[d][p][f];
                    if (v == 0 && !always_written(d, p, f))
                        continue;
                    textbuf_printf(b, "%s{device=\"%s\",direction=\"%s\",protocol=\"%s\",family=\"%s\"} %lld\n",
                                   name, dev, direction_label[d], protocol_label[p], family_label[f],
                                   (long long)v);
                }
    }
}

/* process_*: CPU time, memory, start time and fds, from /proc/self. */
static void format_process(textbuf *b, double boot_time)
{
    long ticks = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
    FILE *f = fopen("/proc/self/stat", "r");
    if (f) {
        char line[1024];
        size_t n = fread(line, 1, sizeof line - 1, f);
        fclose(f);
        line[n] = '\0';
        /* The fields after the command name (which may hold spaces). */
        char *p = strrchr(line, ')');
        unsigned long utime = 0, stime = 0, vsize = 0;
        unsigned long long start = 0;
        long rss = 0;
        if (p && ticks > 0 &&
            sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu %*d %*d %*d %*d %*d %*d %llu %lu %ld",
                   &utime, &stime, &start, &vsize, &rss) == 5) {
            textbuf_printf(b, "# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.\n"
                              "# TYPE process_cpu_seconds_total counter\n"
                              "process_cpu_seconds_total %.2f\n",
                           (double)(utime + stime) / (double)ticks);
            textbuf_printf(b, "# HELP process_resident_memory_bytes Resident memory size in bytes.\n"
                              "# TYPE process_resident_memory_bytes gauge\n"
                              "process_resident_memory_bytes %lld\n",
                           (long long)rss * page);
            textbuf_printf(b, "# HELP process_virtual_memory_bytes Virtual memory size in bytes.\n"
                              "# TYPE process_virtual_memory_bytes gauge\n"
                              "process_virtual_memory_bytes %lu\n",
                           vsize);
            if (boot_time > 0)
                textbuf_printf(b, "# HELP process_start_time_seconds Start time of the process since unix epoch in seconds.\n"
                                  "# TYPE process_start_time_seconds gauge\n"
                                  "process_start_time_seconds %.2f\n",
                               boot_time + (double)start / (double)ticks);
        }
    }
    /* Unreadable after -Z (the process is then not dumpable, so its /proc
     * entries stay root's): the metric is left out rather than wrong. */
    DIR *dir = opendir("/proc/self/fd");
    if (dir) {
        int fds = 0;
        for (struct dirent *e; (e = readdir(dir)) != NULL;)
            fds += e->d_name[0] != '.';
        closedir(dir);
        textbuf_printf(b, "# HELP process_open_fds Number of open file descriptors.\n"
                          "# TYPE process_open_fds gauge\n"
                          "process_open_fds %d\n",
                       fds - 1); /* less the one opendir held */
    }
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
        textbuf_printf(b, "# HELP process_max_fds Maximum number of open file descriptors.\n"
                          "# TYPE process_max_fds gauge\n"
                          "process_max_fds %llu\n",
                       (unsigned long long)rl.rlim_cur);
}

void metrics_format(textbuf *b, const metrics_device *devs, int count, const metrics_info *info)
{
    format_class_counter(b, "ipmonitor_packets_total",
                         "Packets seen on the device, by direction, protocol and address family.",
                         devs, count, 0);
    format_class_counter(b, "ipmonitor_bytes_total",
                         "Bytes (length on the wire) seen on the device, by direction, protocol and address family.",
                         devs, count, 1);
    textbuf_printf(b, "# HELP ipmonitor_dropped_packets_total Packets dropped before counting: stage=\"kernel\" for lack of capture buffer space, stage=\"interface\" by the network interface.\n"
                      "# TYPE ipmonitor_dropped_packets_total counter\n");
    for (int i = 0; i < count; i++) {
        char dev[160];
        escape_label(dev, sizeof dev, devs[i].name);
        textbuf_printf(b, "ipmonitor_dropped_packets_total{device=\"%s\",stage=\"kernel\"} %lld\n"
                          "ipmonitor_dropped_packets_total{device=\"%s\",stage=\"interface\"} %lld\n",
                       dev, (long long)devs[i].dropped_kernel, dev, (long long)devs[i].dropped_interface);
    }
    textbuf_printf(b, "# HELP ipmonitor_device_up Whether the device is monitored (1) or has disappeared (0).\n"
                      "# TYPE ipmonitor_device_up gauge\n");
    for (int i = 0; i < count; i++) {
        char dev[160];
        escape_label(dev, sizeof dev, devs[i].name);
        textbuf_printf(b, "ipmonitor_device_up{device=\"%s\"} %d\n", dev, devs[i].up);
    }
    textbuf_printf(b, "# HELP ipmonitor_device_info Which statistics engine counts the device: engine=\"kernel\" (an eBPF program, nothing copied), or \"ring\" (a packet ring read by ipmon, where the kernel's could not be used); always 1.\n"
                      "# TYPE ipmonitor_device_info gauge\n");
    for (int i = 0; i < count; i++) {
        if (!devs[i].engine[0])
            continue;
        char dev[160];
        escape_label(dev, sizeof dev, devs[i].name);
        textbuf_printf(b, "ipmonitor_device_info{device=\"%s\",engine=\"%s\"} 1\n", dev, devs[i].engine);
    }
    char version[64], libpcap[64];
    escape_label(version, sizeof version, info->version);
    escape_label(libpcap, sizeof libpcap, info->libpcap);
    textbuf_printf(b, "# HELP ipmonitor_build_info The ipmon version and the libpcap it runs on; always 1.\n"
                      "# TYPE ipmonitor_build_info gauge\n"
                      "ipmonitor_build_info{version=\"%s\",libpcap=\"%s\"} 1\n",
                   version, libpcap);
    if (info->process)
        format_process(b, info->boot_time);
}

double metrics_boot_time(void)
{
    FILE *f = fopen("/proc/stat", "r");
    if (!f)
        return 0;
    char line[256];
    double bt = 0;
    while (fgets(line, sizeof line, f)) {
        unsigned long long v;
        if (sscanf(line, "btime %llu", &v) == 1) {
            bt = (double)v;
            break;
        }
    }
    fclose(f);
    return bt;
}

void metrics_libpcap_version(char *out, size_t cap)
{
    const char *v = pcap_lib_version();
    const char *p = strstr(v, "version ");
    p = p ? p + 8 : v;
    size_t n = strcspn(p, " ");
    snprintf(out, cap, "%.*s", (int)n, p);
}
