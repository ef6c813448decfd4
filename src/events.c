/*
 * events.c - do_events: wait for traffic, dispatch it, fire the events.
 *
 * The way of one packet reads straight down: kernel ring -> pcap_dispatch
 * -> one of the three handlers below (capture, count, count with detail)
 * -> the application's on_packet. The handlers fill a per-source event in
 * place: nothing on that way allocates, locks, formats or makes a system
 * call. Errors, statistics events and the wait happen once per do_events.
 */
#include "calls.h"
#include "decode.h"
#include "platform.h"
#include "source.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>

/* ---- per-packet work ------------------------------------------------- */

static inline unsigned read16(const uint8_t *p)
{
    return (unsigned)p[0] << 8 | p[1];
}

/* Linux packet types, as in the cooked headers: 0-3 arrived, 4 was sent. */
static inline int direction_of_pkttype(unsigned pkttype)
{
    return pkttype == 4 ? IPM_PACKET_DIRECTION_OUTGOING
           : pkttype <= 3 ? IPM_PACKET_DIRECTION_INCOMING
                          : IPM_PACKET_DIRECTION_UNKNOWN;
}

static inline int classify_direction(const ipm_source *s, const uint8_t *data, uint32_t caplen)
{
    switch (s->dir_method) {
    case IPM_DIRMETHOD_FIXED:
        return s->fixed_direction;
    case IPM_DIRMETHOD_ETHER_MAC:
        if (caplen < 12)
            return IPM_PACKET_DIRECTION_UNKNOWN;
        return memcmp(data + 6, s->mac, 6) == 0 ? IPM_PACKET_DIRECTION_OUTGOING
                                                : IPM_PACKET_DIRECTION_INCOMING;
    case IPM_DIRMETHOD_SLL:
        return caplen < 2 ? IPM_PACKET_DIRECTION_UNKNOWN : direction_of_pkttype(read16(data));
    case IPM_DIRMETHOD_SLL2:
        return caplen < 11 ? IPM_PACKET_DIRECTION_UNKNOWN : direction_of_pkttype(data[10]);
    case IPM_DIRMETHOD_INCOMING:
        return IPM_PACKET_DIRECTION_INCOMING;
    case IPM_DIRMETHOD_RECORDED:
        return s->recorded_direction;
    default:
        return IPM_PACKET_DIRECTION_UNKNOWN;
    }
}

/* A packet's time from its pcap header: the fraction in units of `scale`
 * nanoseconds. A capture file may hold a fraction of a second or more (a
 * microsecond field of 1000000, or 2^31, both in tcpdump's test captures):
 * it is carried into the seconds, so every caller (C, Python, ipmon) gets
 * the same valid time. Live packets never take the cold branch. */
static __attribute__((noinline, cold)) void carry_seconds(struct timespec *t, int64_t ns)
{
    int64_t sec = ns / 1000000000, rest = ns % 1000000000;
    if (rest < 0) {
        rest += 1000000000;
        sec--;
    }
    t->tv_sec += (time_t)sec;
    t->tv_nsec = (long)rest;
}

static inline void packet_time(struct timespec *t, const struct timeval *tv, int scale)
{
    int64_t ns = (int64_t)tv->tv_usec * scale;
    t->tv_sec = tv->tv_sec;
    if (__builtin_expect((uint64_t)ns < 1000000000u, 1))
        t->tv_nsec = (long)ns;
    else
        carry_seconds(t, ns);
}

/* A stop asked for from another thread or from a handler ends the batch. */
static inline void check_stop(ipm_source *s)
{
    if (__builtin_expect(atomic_load_explicit(&s->monitor->stop_requested, memory_order_relaxed), 0))
        pcap_breakloop(s->pcap);
}

static __attribute__((noinline, cold)) void handler_failed(ipm_source *s, const char *which, int rc)
{
    ipm_fire_error(s->monitor, IPM_E_HANDLER, rc, s->event.adapter_index, s->name,
                   "the %s handler failed (returned %d) on \"%s\"", which, rc, s->name);
}

static void on_capture(u_char *user, const struct pcap_pkthdr *h, const u_char *bytes)
{
    ipm_source *s = (ipm_source *)user;
    ipm_monitor *m = s->monitor;
    ipm_packet_event *ev = &s->event;
    packet_time(&ev->time_stamp, &h->ts, s->ts_scale);
    ev->packet_size = h->len;
    ev->data = bytes;
    ev->data_size = h->caplen;
    ev->direction = classify_direction(s, bytes, h->caplen);
    if (s->names_per_packet)
        ev->adapter = ipm_live_packet_adapter(s, bytes, h->caplen);
    s->total_packets++;
    if (m->on_packet) {
        int rc = m->on_packet(ev, m->on_packet_user);
        if (__builtin_expect(rc != 0, 0))
            handler_failed(s, "on_packet", rc);
    }
    check_stop(s);
}

static void on_count(u_char *user, const struct pcap_pkthdr *h, const u_char *bytes)
{
    ipm_source *s = (ipm_source *)user;
    (void)bytes;
    s->interval.packets++;
    s->interval.bytes += h->len;
    s->last_packet_time = h->ts; /* normalised once per event: statistics_time */
    check_stop(s);
}

static void on_count_detail(u_char *user, const struct pcap_pkthdr *h, const u_char *bytes)
{
    ipm_source *s = (ipm_source *)user;
    ipm_interval *iv = &s->interval;
    int family, protocol, direction = classify_direction(s, bytes, h->caplen);
    ipm_decode_class(s->link_type, bytes, h->caplen, &family, &protocol);
    iv->packets++;
    iv->bytes += h->len;
    iv->cell_packets[direction + 1][protocol][family]++;
    iv->cell_bytes[direction + 1][protocol][family] += h->len;
    s->last_packet_time = h->ts; /* normalised once per event: statistics_time */
    check_stop(s);
}

/* ---- once per do_events ----------------------------------------------- */

static pcap_handler handler_of(const ipm_monitor *m)
{
    return m->operation_mode == IPM_OM_CAPTURE ? on_capture
           : m->statistics_detail             ? on_count_detail
                                              : on_count;
}

/* What the source said of its adapter. Down is reported and capture
 * resumes when it is up. Gone (deleted while up or down, or deleted and
 * made again), however it was found out, is only marked here: report_gone
 * hands over what the ring still holds, then closes and reports it. */
static void link_news(ipm_monitor *m, ipm_source *s, ipm_wait_state state)
{
    if (state == IPM_WAIT_GONE)
        s->gone = 1;
    if (state == IPM_WAIT_DOWN)
        ipm_fire_error(m, IPM_E_CAPTURE, 0, s->event.adapter_index, s->name,
                       "adapter \"%s\" went down: monitoring resumes when it is up again",
                       s->name);
}

/* A source's wait fd reported an error: ask the source what happened. */
static void wait_failed(ipm_monitor *m, ipm_source *s)
{
    link_news(m, s, s->ops->wait_error ? s->ops->wait_error(s) : IPM_WAIT_OK);
}

/* Wait up to the smallest packet timeout (at most max_wait ms, when that
 * is >= 0) for any source to have packets, for a change of the adapter set
 * (follow.c's watch), or for the wake-up of a deactivate from another
 * thread. Sources that ended (a file read, a capture closed by an error)
 * are not waited on. A following monitor with nothing to capture waits
 * for adapters (ipm_follow_timeout). The poll set was sized as the sources
 * were added: nothing is allocated here. */
static void wait_for_packets(ipm_monitor *m, int max_wait)
{
    struct pollfd *fds = m->poll_fds;
    ipm_source **polled = m->polled;
    int n = 0, timeout = INT_MAX;
    for (int i = 0; i < m->source_count; i++) {
        ipm_source *s = m->sources[i];
        if (s->finished || s->failed)
            continue;
        if (s->wait_fd < 0) {
            timeout = 0; /* nothing to wait on: always ready (a file) */
            continue;
        }
        if (s->settings.packet_timeout < timeout)
            timeout = s->settings.packet_timeout;
        polled[n] = s;
        fds[n++] = (struct pollfd){.fd = s->wait_fd, .events = POLLIN};
    }
    int extra = 0;
    if (m->follow.mode != IPM_FOLLOW_NONE) {
        if (timeout == INT_MAX)
            timeout = ipm_follow_timeout(m);
        if (ipm_follow_fd(m) >= 0)
            fds[n + extra++] = (struct pollfd){.fd = ipm_follow_fd(m), .events = POLLIN};
    }
    fds[n + extra++] = (struct pollfd){.fd = m->wake_fd[0], .events = POLLIN};
    if (max_wait >= 0 && max_wait < timeout)
        timeout = max_wait;
    if (poll(fds, (nfds_t)(n + extra), timeout) <= 0)
        return; /* timeout or a signal: dispatch what is there */
    for (int i = 0; i < n; i++)
        if (fds[i].revents & (POLLERR | POLLHUP | POLLNVAL))
            wait_failed(m, polled[i]);
}

static int dispatch_all(ipm_monitor *m)
{
    pcap_handler handler = handler_of(m);
    int rc = IPM_OK;
    for (int i = 0; i < m->source_count && !atomic_load(&m->stop_requested); i++) {
        ipm_source *s = m->sources[i];
        if (s->finished || s->failed)
            continue;
        int n = s->ops->dispatch(s, handler);
        ipm_wait_state link = n == PCAP_ERROR && s->ops->link_state ? s->ops->link_state(s)
                                                                     : IPM_WAIT_OK;
        if (link != IPM_WAIT_OK || (n == PCAP_ERROR && s->gone)) {
            link_news(m, s, link); /* libpcap met the down or the delete first */
        } else if (n == PCAP_ERROR) {
            s->failed = 1;
            ipm_fire_error(m, IPM_E_CAPTURE, 0, s->event.adapter_index, s->name,
                           "reading \"%s\" failed: %s", s->name, s->error);
            rc = ipm_fail(m, IPM_E_CAPTURE, "%s", m->error->description);
        } else if (n >= 0 && (s->caps & IPM_SOURCE_ENDS) &&
                   !(atomic_load(&m->stop_requested) & IPM_STOP_BATCH)) {
            /* Read to its end (a file). After a break, libpcap's reader
             * returns the count of a batch it cut short: not the end. */
            s->finished = 1;
        }
    }
    return rc;
}

static void statistics_time(const ipm_source *s, struct timespec *ts)
{
    /* A file's statistics are "collected" at its last packet's time. */
    if ((s->caps & IPM_SOURCE_PACKET_CLOCK) && s->last_packet_time.tv_sec) {
        packet_time(ts, &s->last_packet_time, s->ts_scale);
    } else {
        clock_gettime(CLOCK_REALTIME, ts);
    }
}

static void fill_statistics(ipm_source *s, ipm_statistics_event *ev, int detail)
{
    ipm_totals now;
    const ipm_interval *iv = &s->interval;
    memset(ev, 0, sizeof *ev);
    statistics_time(s, &ev->time_stamp);
    ev->captured_packets = iv->packets;
    ev->captured_bytes = iv->bytes;
    ev->adapter_index = s->event.adapter_index;
    ev->adapter = s->name;
    if (!s->failed && ipm_source_stats(s, &now) == 0) {
        ev->dropped = now.dropped - s->last_stats.dropped;
        ev->adapter_dropped = now.adapter_dropped - s->last_stats.adapter_dropped;
        s->last_stats = now;
    }
    if (!detail)
        return;
    ev->detail = 1;
    /* interval row (direction + 1) -> direction class; row 1 stays empty */
    static const int class_of_row[4] = {IPM_DIRCLASS_UNKNOWN, -1, IPM_DIRCLASS_INCOMING,
                                        IPM_DIRCLASS_OUTGOING};
    for (int row = 0; row < 4; row++) {
        int c = class_of_row[row];
        if (c < 0)
            continue;
        for (int p = 0; p < IPM_PROTO_COUNT; p++) {
            for (int f = 0; f < IPM_FAMILY_COUNT; f++) {
                int64_t n = iv->cell_packets[row][p][f], b = iv->cell_bytes[row][p][f];
                ev->class_packets[c][p][f] = n;
                ev->class_bytes[c][p][f] = b;
                ev->protocol_packets[p] += n;
                ev->protocol_bytes[p] += b;
                ev->family_packets[f] += n;
                ev->family_bytes[f] += b;
            }
        }
    }
    for (int p = 0; p < IPM_PROTO_COUNT; p++) {
        for (int f = 0; f < IPM_FAMILY_COUNT; f++) {
            ev->incoming_packets += ev->class_packets[IPM_DIRCLASS_INCOMING][p][f];
            ev->incoming_bytes += ev->class_bytes[IPM_DIRCLASS_INCOMING][p][f];
            ev->outgoing_packets += ev->class_packets[IPM_DIRCLASS_OUTGOING][p][f];
            ev->outgoing_bytes += ev->class_bytes[IPM_DIRCLASS_OUTGOING][p][f];
        }
    }
}

static void fire_statistics(ipm_monitor *m)
{
    for (int i = 0; i < m->source_count &&
                    !(atomic_load(&m->stop_requested) & IPM_STOP_DEACTIVATE);
         i++) {
        ipm_source *s = m->sources[i];
        ipm_statistics_event ev;
        fill_statistics(s, &ev, m->statistics_detail);
        s->total_packets += s->interval.packets;
        memset(&s->interval, 0, sizeof s->interval);
        if (!s->settings.collect_statistics || !m->on_statistics)
            continue;
        int rc = m->on_statistics(&ev, m->on_statistics_user);
        if (rc != 0)
            handler_failed(s, "on_statistics", rc);
    }
}

/* The adapter of s is gone: hand over what its ring still holds, then
 * close the capture for good and report it through on_error, once. It is a
 * notice, not do_events' failure: the other adapters go on, and the
 * adapter is attached again if it comes back (follow.c). A stop or break
 * asked for meanwhile leaves it for the next do_events. */
static void report_gone(ipm_monitor *m, ipm_source *s)
{
    s->ops->dispatch(s, handler_of(m)); /* an error now is the same news */
    if (atomic_load(&m->stop_requested))
        return;
    s->failed = 1;
    ipm_fire_error(m, IPM_E_ADAPTER_GONE, 0, s->event.adapter_index, s->name,
                   "adapter \"%s\" disappeared: its capture is closed, and opened again if it "
                   "comes back",
                   s->name);
}

/* Once per do_events, after the dispatch: keep the sources' counters up to
 * date, learn of adapters deleted (from the link watch, or while down from
 * the source itself), and report every adapter gone (before the statistics
 * events, which then count its last packets). */
static void look_after_sources(ipm_monitor *m)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    ipm_follow_read(m, &now);
    for (int i = 0; i < m->source_count; i++) {
        ipm_source *s = m->sources[i];
        if (ipm_source_refresh(s, &now) == IPM_WAIT_GONE)
            s->gone = 1; /* deleted while down */
        if (s->gone && !s->failed && !atomic_load(&m->stop_requested))
            report_gone(m, s);
    }
}

/* 1 when every source has ended: files read, captures closed by errors. A
 * monitor that follows adapters with none left waits for them. */
static int all_sources_ended(const ipm_monitor *m)
{
    int running = 0;
    for (int i = 0; i < m->source_count; i++) {
        const ipm_source *s = m->sources[i];
        if (!s->failed && !s->finished)
            running++;
    }
    if (m->follow.mode != IPM_FOLLOW_NONE && m->source_count == 0)
        return 0;
    return running == 0;
}

/* Both do_events calls, after their entry guard. */
static int run_events(ipm_monitor *m, int max_wait)
{
    int rc;
    pthread_mutex_lock(&m->run_lock);
    if (ipm_state_of(m) != IPM_STATE_ACTIVE ||
        (m->source_count == 0 && m->follow.mode == IPM_FOLLOW_NONE)) {
        pthread_mutex_unlock(&m->run_lock);
        return IPM_OK;
    }
    atomic_store(&m->owner_thread, ipm_this_thread());
    atomic_store(&m->dispatching, 1);

    wait_for_packets(m, max_wait);
    rc = atomic_load(&m->stop_requested) ? IPM_OK : dispatch_all(m);
    look_after_sources(m);
    if (m->operation_mode == IPM_OM_STAT)
        fire_statistics(m);
    if (!(atomic_load(&m->stop_requested) & IPM_STOP_DEACTIVATE)) {
        ipm_sources_sweep(m);         /* the gone ones, reported and counted */
        ipm_follow_attach_news(m);    /* the ones that came */
    }

    atomic_store(&m->dispatching, 0);
    /* A break (ipm_break_events) ends only this batch. */
    int stop = atomic_fetch_and(&m->stop_requested, ~IPM_STOP_BATCH) & IPM_STOP_DEACTIVATE;
    if (stop || all_sources_ended(m))
        ipm_close_sources(m); /* -> idle */
    pthread_mutex_unlock(&m->run_lock);
    if (m->free_pending) /* ipm_free was called inside a callback */
        ipm_free_now(m);
    return rc;
}

int ipm_do_events(ipm_monitor *m)
{
    int rc = ipm_enter(m, IPM_CALL_do_events, NULL);
    return rc != IPM_OK ? rc : run_events(m, -1);
}

int ipm_do_events_timeout(ipm_monitor *m, int timeout_ms)
{
    int rc = ipm_enter(m, IPM_CALL_do_events_timeout, NULL);
    return rc != IPM_OK ? rc : run_events(m, timeout_ms);
}

/* ---- event loops: one fd and a timeout --------------------------------- */

int ipm_wait_set_fill(ipm_monitor *m)
{
    if (m->wait_set < 0)
        return 0;
    if (ipm_follow_fd(m) >= 0 && ipm_os_waitset_add(m->wait_set, ipm_follow_fd(m)) != 0)
        return -1;
    for (int i = 0; i < m->source_count; i++)
        if (m->sources[i]->wait_fd >= 0 &&
            ipm_os_waitset_add(m->wait_set, m->sources[i]->wait_fd) != 0)
            return -1;
    return 0;
}

int ipm_get_fd(ipm_monitor *m)
{
    int rc = ipm_enter(m, IPM_CALL_get_fd, NULL);
    if (rc != IPM_OK)
        return rc;
    if (m->wait_set < 0) {
        int set = ipm_os_waitset_open();
        if (set >= 0) {
            m->wait_set = set;
            if (ipm_os_waitset_add(set, m->wake_fd[0]) != 0 || ipm_wait_set_fill(m) != 0) {
                int err = errno;
                ipm_os_waitset_close(set);
                m->wait_set = -1;
                return ipm_fail(m, IPM_E_CAPTURE, "cannot make the fd of get_fd: %s",
                                strerror(err));
            }
        }
    }
    if (m->wait_set >= 0)
        return m->wait_set;
    /* No wait set on this system: the one live capture's own fd. */
    int fd = -1, live = 0;
    for (int i = 0; i < m->source_count; i++) {
        const ipm_source *s = m->sources[i];
        if (!s->finished && !s->failed && s->wait_fd >= 0) {
            fd = s->wait_fd;
            live++;
        }
    }
    if (live == 0) /* idle, or files only (get_timeout is 0 for them) */
        return m->wake_fd[0];
    if (live > 1)
        return ipm_fail(m, IPM_E_UNSUPPORTED,
                        "get_fd: this system cannot wait on %d captures through one fd; "
                        "monitor one adapter per monitor, or call do_events in a thread", live);
    return fd;
}

int ipm_get_timeout(ipm_monitor *m)
{
    int rc = ipm_enter(m, IPM_CALL_get_timeout, NULL);
    if (rc != IPM_OK)
        return rc;
    if (ipm_state_of(m) != IPM_STATE_ACTIVE)
        return ipm_fail(m, IPM_E_NOT_ACTIVE, "get_timeout: the monitor is not active");
    int timeout = INT_MAX;
    for (int i = 0; i < m->source_count; i++) {
        const ipm_source *s = m->sources[i];
        if (s->finished || s->failed)
            continue;
        if (s->wait_fd < 0)
            return 0; /* a file: read it now */
        if (s->settings.packet_timeout < timeout)
            timeout = s->settings.packet_timeout;
    }
    if (timeout == INT_MAX && m->follow.mode != IPM_FOLLOW_NONE && !all_sources_ended(m))
        return ipm_follow_timeout(m); /* waiting for adapters */
    return timeout == INT_MAX ? 0 : timeout; /* all ended: do_events closes them */
}
