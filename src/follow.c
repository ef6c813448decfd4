/*
 * follow.c - a monitor that follows the host's adapter set while active.
 *
 * A live activation (ipm_activate, ipm_activate_many: a FIXED list of
 * names; ipm_activate_matching: every adapter whose name MATCHES patterns)
 * keeps a watch on the interfaces: on Linux an rtnetlink socket subscribed
 * to RTMGRP_LINK (RTM_NEWLINK / RTM_DELLINK), polled by do_events with the
 * capture sockets and part of ipm_get_fd's wait set; where the platform has
 * no watch (IPM_PLATFORM=posix) the interfaces are listed again, at most
 * once per do_events wait (the smallest packet_timeout). Nothing lists the
 * adapters in a loop on Linux: a full listing happens only when the kernel
 * says it dropped changes (its queue overflowed).
 *
 * Once per do_events, outside the packet path:
 *  1. ipm_follow_read: the changes read mark the sources whose adapter was
 *     deleted (or deleted and made again: another index) as gone, and
 *     remember the links that may need attaching ("news");
 *  2. events.c reports the gone ones (their ring emptied first), fires the
 *     statistics events, and ipm_sources_sweep closes them;
 *  3. ipm_follow_attach_news opens the wanted links that are up and not
 *     monitored: a new slot appended to the adapter list
 *     (IPM_E_ADAPTER_ADDED), or the slot the name had, its metadata
 *     refreshed (IPM_E_ADAPTER_BACK), so an adapter's index never changes
 *     while the monitor is active.
 * A link that is down cannot be captured on (libpcap refuses): it is
 * attached by the change that brings it up.
 */
#include "platform.h"
#include "source.h"

#include <fnmatch.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

/* ---- room ---------------------------------------------------------- */

int ipm_sources_reserve(ipm_monitor *m, int count)
{
    if (count <= m->source_cap)
        return IPM_OK;
    int cap = m->source_cap ? m->source_cap : 8;
    while (cap < count)
        cap *= 2;
    ipm_source **sources = realloc(m->sources, (size_t)cap * sizeof *sources);
    if (!sources)
        return IPM_E_NO_MEMORY;
    m->sources = sources;
    ipm_source **polled = realloc(m->polled, (size_t)cap * sizeof *polled);
    if (!polled)
        return IPM_E_NO_MEMORY;
    m->polled = polled;
    /* the sources, the link watch and the wake-up */
    struct pollfd *fds = realloc(m->poll_fds, (size_t)(cap + 2) * sizeof *fds);
    if (!fds)
        return IPM_E_NO_MEMORY;
    m->poll_fds = fds;
    m->source_cap = m->poll_cap = cap;
    return IPM_OK;
}

/* ---- what is followed ---------------------------------------------- */

static void free_names(ipm_follow *f)
{
    for (int i = 0; i < f->name_count; i++)
        free(f->names[i]);
    free(f->names);
    f->names = NULL;
    f->name_count = 0;
}

int ipm_follow_start(ipm_monitor *m, ipm_follow_mode mode, const char *const *names, int count)
{
    ipm_follow *f = &m->follow;
    ipm_follow_stop(m);
    if (mode == IPM_FOLLOW_NONE)
        return IPM_OK;
    if (count > 0) {
        f->names = calloc((size_t)count, sizeof *f->names);
        if (!f->names)
            return IPM_E_NO_MEMORY;
        for (int i = 0; i < count; i++) {
            f->names[i] = ipm_strdup(names[i]);
            if (!f->names[i]) {
                f->name_count = i;
                free_names(f);
                return IPM_E_NO_MEMORY;
            }
        }
        f->name_count = count;
    }
    f->mode = mode;
    f->link_fd = ipm_os_link_watch_open(); /* -1: list again instead (posix) */
    clock_gettime(CLOCK_MONOTONIC, &f->last_relist);
    return IPM_OK;
}

void ipm_follow_stop(ipm_monitor *m)
{
    ipm_follow *f = &m->follow;
    ipm_os_link_watch_close(f->link_fd);
    f->link_fd = -1;
    free_names(f);
    free(f->news);
    f->news = NULL;
    f->news_count = f->news_cap = 0;
    free(f->seen);
    f->seen = NULL;
    f->seen_cap = 0;
    f->mode = IPM_FOLLOW_NONE;
}

/* MATCHING: excluded by any "!pattern"; else included by any pattern, or
 * by none being given (all, or "all but" with only exclusions). */
int ipm_follow_wants(const ipm_monitor *m, const char *name)
{
    const ipm_follow *f = &m->follow;
    if (f->mode == IPM_FOLLOW_FIXED) {
        for (int i = 0; i < f->name_count; i++)
            if (strcmp(f->names[i], name) == 0)
                return 1;
        return 0;
    }
    if (f->mode != IPM_FOLLOW_MATCHING)
        return 0;
    int includes = 0, included = 0;
    for (int i = 0; i < f->name_count; i++) {
        const char *p = f->names[i];
        if (p[0] == '!') {
            if (fnmatch(p + 1, name, 0) == 0)
                return 0;
        } else {
            includes = 1;
            included |= fnmatch(p, name, 0) == 0;
        }
    }
    return includes ? included : 1;
}

void ipm_follow_mark_seen(ipm_monitor *m, int index)
{
    ipm_follow *f = &m->follow;
    if (index < 0)
        return;
    if (index >= f->seen_cap) {
        int cap = f->seen_cap ? f->seen_cap : 16;
        while (cap <= index)
            cap *= 2;
        unsigned char *seen = realloc(f->seen, (size_t)cap);
        if (!seen)
            return; /* then a return is announced as ADDED, not BACK */
        memset(seen + f->seen_cap, 0, (size_t)(cap - f->seen_cap));
        f->seen = seen;
        f->seen_cap = cap;
    }
    f->seen[index] = 1;
}

static int was_seen(const ipm_follow *f, int index)
{
    return index >= 0 && index < f->seen_cap && f->seen[index];
}

int ipm_follow_fd(const ipm_monitor *m)
{
    return m->follow.mode != IPM_FOLLOW_NONE ? m->follow.link_fd : -1;
}

int ipm_follow_timeout(const ipm_monitor *m)
{
    int timeout = INT_MAX;
    for (int i = 0; i < m->source_count; i++)
        if (!m->sources[i]->failed && m->sources[i]->settings.packet_timeout < timeout)
            timeout = m->sources[i]->settings.packet_timeout;
    for (int i = 0; timeout == INT_MAX && i < m->adapter_count; i++)
        if (m->adapters[i].settings.packet_timeout < timeout)
            timeout = m->adapters[i].settings.packet_timeout;
    return timeout == INT_MAX ? 1000 : timeout;
}

/* ---- learning of changes ------------------------------------------- */

static int is_live(const ipm_source *s)
{
    return !(s->caps & IPM_SOURCE_ENDS) && s->ifindex != 0;
}

static void forget_news(ipm_follow *f, const char *name)
{
    for (int i = 0; i < f->news_count; i++)
        if (strcmp(f->news[i].name, name) == 0) {
            f->news[i] = f->news[--f->news_count];
            return;
        }
}

/* One change: a source on that name whose interface is no longer the one
 * it opened is gone, and so is a source whose interface took another name
 * (a rename is the old name gone and the new one appearing, so nothing is
 * counted twice); a wanted link is remembered (the latest word wins). */
static void on_link_change(void *user, const ipm_os_link *link, int removed)
{
    ipm_monitor *m = user;
    ipm_follow *f = &m->follow;
    for (int i = 0; i < m->source_count; i++) {
        ipm_source *s = m->sources[i];
        if (!is_live(s))
            continue;
        if (strcmp(s->name, link->name) != 0) {
            /* renamed: the old name is gone (the new one may be wanted) */
            if (!removed && (unsigned)link->ifindex == s->ifindex)
                s->gone = 1;
            continue;
        }
        if (removed ? (unsigned)link->ifindex == s->ifindex : (unsigned)link->ifindex != s->ifindex)
            s->gone = 1;
    }
    forget_news(f, link->name);
    if (removed || !ipm_follow_wants(m, link->name))
        return;
    if (f->news_count == f->news_cap) {
        int cap = f->news_cap ? f->news_cap * 2 : 16;
        ipm_os_link *news = realloc(f->news, (size_t)cap * sizeof *news);
        if (!news)
            return; /* not attached now; the next change of that link retries */
        f->news = news;
        f->news_cap = cap;
    }
    f->news[f->news_count++] = *link;
}

/* The whole present set (posix, or after the kernel dropped changes): every
 * link as news, and every live source whose name is not there is gone. */
static void relist(ipm_monitor *m)
{
    ipm_os_link *links;
    int count;
    if (ipm_os_list_links(&links, &count) != 0)
        return;
    for (int i = 0; i < count; i++)
        on_link_change(m, &links[i], 0);
    for (int i = 0; i < m->source_count; i++) {
        ipm_source *s = m->sources[i];
        int present = 0;
        for (int j = 0; j < count && !present; j++)
            present = strcmp(links[j].name, s->name) == 0;
        if (is_live(s) && !present)
            s->gone = 1;
    }
    free(links);
}

static long long ms_since(const struct timespec *then, const struct timespec *now)
{
    return (long long)(now->tv_sec - then->tv_sec) * 1000 + (now->tv_nsec - then->tv_nsec) / 1000000;
}

void ipm_follow_read(ipm_monitor *m, const struct timespec *now)
{
    ipm_follow *f = &m->follow;
    if (f->mode == IPM_FOLLOW_NONE)
        return;
    if (f->link_fd >= 0) {
        if (ipm_os_link_watch_read(f->link_fd, on_link_change, m) != 0)
            relist(m); /* the kernel dropped changes */
        return;
    }
    if (ms_since(&f->last_relist, now) < ipm_follow_timeout(m))
        return;
    f->last_relist = *now;
    relist(m);
}

/* ---- attaching ------------------------------------------------------ */

static int attached(const ipm_monitor *m, const char *name)
{
    for (int i = 0; i < m->source_count; i++) {
        const ipm_source *s = m->sources[i];
        if (!s->failed && !s->gone && strcmp(s->name, name) == 0)
            return 1;
    }
    return 0;
}

/* Open the link as a new source with the monitor's filter and direction,
 * in the wait set: the source, or NULL with the monitor's error set. */
static ipm_source *attach(ipm_monitor *m, int slot)
{
    const ipm_adapter *a = &m->adapters[slot];
    if (ipm_sources_reserve(m, m->source_count + 1) != IPM_OK) {
        ipm_fail(m, IPM_E_NO_MEMORY, "out of memory while attaching \"%s\"", a->name);
        return NULL;
    }
    ipm_source *s = ipm_source_open_adapter(m, a->name, slot, &a->settings);
    if (!s)
        return NULL;
    int first = m->source_count;
    m->sources[m->source_count++] = s;
    if (ipm_filter_apply_from(m, first, m->filter, m->direction) != IPM_OK) {
        m->sources[--m->source_count] = NULL;
        ipm_source_free(s);
        return NULL;
    }
    ipm_source_take_baseline(s);
    if (m->wait_set >= 0 && s->wait_fd >= 0 && ipm_os_waitset_add(m->wait_set, s->wait_fd) != 0) {
        /* an event loop on get_fd would not wake for its packets: they are
         * still taken at each do_events (get_timeout), so keep it */
    }
    return s;
}

void ipm_follow_attach_news(ipm_monitor *m)
{
    ipm_follow *f = &m->follow;
    while (f->news_count > 0 && !atomic_load(&m->stop_requested)) {
        ipm_os_link link = f->news[0];
        f->news[0] = f->news[--f->news_count];
        if (!link.up || attached(m, link.name) || !ipm_follow_wants(m, link.name))
            continue;
        int slot = ipm_adapter_slot_for_link(m, &link);
        if (slot < 0)
            continue; /* out of memory: the next change of the link retries */
        int back = f->mode == IPM_FOLLOW_FIXED || was_seen(f, slot);
        ipm_source *s = attach(m, slot);
        if (!s) {
            int code = m->error->code;
            char why[IPM_ERRMSG_MAX];
            snprintf(why, sizeof why, "%s", m->error->message);
            ipm_clear_error(m); /* do_events itself did not fail */
            if (code != IPM_E_ADAPTER_NOT_FOUND) /* gone again already: nothing to say */
                ipm_fire_error(m, code, 0, slot, link.name, "adapter \"%s\" %s but cannot be monitored: %s",
                               link.name, back ? "came back" : "appeared", why);
            continue;
        }
        ipm_follow_mark_seen(m, slot);
        /* the record names what the OS says now (s->name is the same) */
        if (back)
            ipm_fire_error(m, IPM_E_ADAPTER_BACK, 0, slot, s->name,
                           "adapter \"%s\" came back (index %d in the system) and is monitored again",
                           s->name, link.ifindex);
        else
            ipm_fire_error(m, IPM_E_ADAPTER_ADDED, 0, slot, s->name,
                           "adapter \"%s\" appeared and is now monitored", s->name);
    }
}

/* ---- closing the gone ------------------------------------------------ */

void ipm_sources_sweep(ipm_monitor *m)
{
    int kept = 0;
    for (int i = 0; i < m->source_count; i++) {
        ipm_source *s = m->sources[i];
        if (s->gone && s->failed && m->follow.mode != IPM_FOLLOW_NONE)
            ipm_source_retire(m, s);
        else
            m->sources[kept++] = s;
    }
    for (int i = kept; i < m->source_count; i++)
        m->sources[i] = NULL;
    m->source_count = kept;
}
