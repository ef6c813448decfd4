/*
 * metrics.h - the exporter's counters and their Prometheus text exposition
 * (format 0.0.4). The statistics loop adds each on_statistics event to a
 * store (a mutex held only for the adds); a scrape, on the HTTP server's
 * own thread, copies the store under the same mutex (one memcpy) and
 * formats the copy without it, so a scrape never blocks capture and never
 * waits for an interval. Implemented in metrics.c.
 */
#ifndef IPMON_METRICS_H
#define IPMON_METRICS_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "ipmonitor.h"

/* One device's series. Counters only grow while the process lives: a
 * device that goes and comes back under its name continues its series. */
typedef struct metrics_device {
    char name[64];
    int up; /* ipmonitor_device_up: 1 while attached, 0 once gone */
    int64_t packets[IPM_DIRECTION_CLASSES][IPM_PROTO_COUNT][IPM_FAMILY_COUNT];
    int64_t bytes[IPM_DIRECTION_CLASSES][IPM_PROTO_COUNT][IPM_FAMILY_COUNT];
    int64_t dropped_kernel, dropped_interface;
    char engine[8];  /* the statistics engine counting it ("kernel", "ring"), "" not yet known */
} metrics_device;

typedef struct metrics_store {
    pthread_mutex_t lock;
    metrics_device *devices; /* capacity fixed at init: never moves */
    int count, capacity;
    int guess;               /* where the next event's device probably is */
    int64_t overflow_events; /* events of devices beyond capacity (not counted) */
} metrics_store;

/* Make an empty store for up to `capacity` devices; -1 if out of memory. */
int metrics_store_init(metrics_store *s, int capacity);
void metrics_store_free(metrics_store *s);

/* Add a device's series (up) if it has none yet; sets it up again if it
 * has. Returns -1 when the store is full. */
int metrics_register(metrics_store *s, const char *name);
/* ipmonitor_device_up of `name` (no-op for an unknown device). */
void metrics_set_up(metrics_store *s, const char *name, int up);
/* ipmonitor_device_info{engine} of `name`, and whether it is known yet
 * (metrics_register forgets it: a device made again may be counted by
 * another engine). */
void metrics_set_engine(metrics_store *s, const char *name, const char *engine);
int metrics_engine_known(metrics_store *s, const char *name);
/* Add one on_statistics event (StatisticsDetail on) to its device's
 * counters. Events with nothing to add take no lock. It never changes
 * ipmonitor_device_up (a device first seen here starts at 0 until
 * metrics_register). */
void metrics_add_event(metrics_store *s, const ipm_statistics_event *ev);

/* A copy of the devices (malloc'd, the caller frees it) and their number;
 * the mutex is held for the copy only. NULL with *count 0 if out of memory
 * or empty. */
metrics_device *metrics_snapshot(metrics_store *s, int *count);

/* A growable text buffer; `failed` once an allocation failed. */
typedef struct textbuf {
    char *data;
    size_t len, cap;
    int failed;
} textbuf;
void textbuf_printf(textbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* What the exposition says besides the devices. */
typedef struct metrics_info {
    const char *version; /* ipmonitor_build_info{version} */
    const char *libpcap; /* ipmonitor_build_info{libpcap}: "1.10.3" */
    int process;         /* add process_* (off for the textfile: node_exporter has its own) */
    double boot_time;    /* seconds since the epoch when the system booted (for process_start_time_seconds) */
} metrics_info;

/* The whole exposition of `devices` into b (appended). */
void metrics_format(textbuf *b, const metrics_device *devices, int count, const metrics_info *info);

/* The system's boot time from /proc/stat (btime), or 0 when unknown. */
double metrics_boot_time(void);

/* "1.10.3" out of pcap_lib_version()'s "libpcap version 1.10.3 (...)". */
void metrics_libpcap_version(char *out, size_t cap);

#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

#endif
