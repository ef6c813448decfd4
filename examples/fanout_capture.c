/*
 * fanout_capture.c - capture one adapter with several threads (Linux
 * PACKET_FANOUT), as Suricata's and Zeek's workers do.
 *
 *   example_fanout_capture ADAPTER [THREADS [SECONDS]]
 *
 * The pattern: one monitor per thread, every monitor configured with the
 * same FanoutGroup (and FanoutMode) before it is activated on the same
 * adapter. The kernel then hands each packet to exactly one member, so
 * each thread has its own ring and its own do_events loop, and N threads on
 * N cores capture about N times what one can. With FanoutMode=hash (the
 * default) all packets of one flow go to one member, so per-flow work
 * needs no locks. A monitor is used by one thread only: nothing is shared
 * but the counters printed at the end.
 */
#define _POSIX_C_SOURCE 200809L
#include <ipmonitor.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define MAX_THREADS 64

typedef struct worker {
    ipm_monitor *m;
    pthread_t thread;
    long long packets, bytes;
    double until; /* CLOCK_MONOTONIC seconds */
} worker;

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int on_packet(const ipm_packet_event *e, void *user)
{
    worker *w = user; /* this thread's own: no lock */
    w->packets++;
    w->bytes += e->packet_size;
    return 0;
}

static void *run(void *arg)
{
    worker *w = arg;
    while (now() < w->until && ipm_get_active(w->m) > 0)
        if (ipm_do_events(w->m) != IPM_OK)
            fprintf(stderr, "%s\n", ipm_last_error(w->m));
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s ADAPTER [THREADS [SECONDS]]\n", argv[0]);
        return 2;
    }
    int n = argc > 2 ? atoi(argv[2]) : 2;
    double seconds = argc > 3 ? atof(argv[3]) : 5;
    if (n < 1 || n > MAX_THREADS) {
        fprintf(stderr, "THREADS must be 1 to %d\n", MAX_THREADS);
        return 2;
    }
    static worker w[MAX_THREADS];
    char group[32];
    /* Any id from 1 to 65535 that no other program uses on this host. */
    snprintf(group, sizeof group, "FanoutGroup=%d", 1000 + (int)(getpid() % 60000));
    for (int i = 0; i < n; i++) {
        w[i].m = ipm_new();
        if (!w[i].m || !ipm_config(w[i].m, group) || ipm_set_on_packet(w[i].m, on_packet, &w[i]) ||
            ipm_activate(w[i].m, argv[1]) != IPM_OK) {
            fprintf(stderr, "worker %d: %s\n", i, w[i].m ? ipm_last_error(w[i].m) : "out of memory");
            return 1;
        }
        w[i].until = now() + seconds;
    }
    for (int i = 0; i < n; i++)
        pthread_create(&w[i].thread, NULL, run, &w[i]);
    long long packets = 0, bytes = 0;
    for (int i = 0; i < n; i++) {
        pthread_join(w[i].thread, NULL);
        printf("worker %d: %lld packets, %lld bytes\n", i, w[i].packets, w[i].bytes);
        packets += w[i].packets;
        bytes += w[i].bytes;
        ipm_free(w[i].m);
    }
    printf("all %d workers: %lld packets, %lld bytes\n", n, packets, bytes);
    return 0;
}
