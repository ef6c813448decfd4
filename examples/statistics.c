/*
 * statistics.c - packets and bytes per second on one or more adapters,
 * using statistics mode (no packet is copied to the application).
 *
 *   example_statistics [ADAPTER...]      (default: lo)
 *
 * Prints one line per adapter per second, five times.
 */
#include <ipmonitor.h>
#include <stdio.h>

static int on_statistics(const ipm_statistics_event *e, void *user)
{
    (void)user;
    printf("%-12s %8lld packets %10lld bytes %6lld dropped\n", e->adapter,
           (long long)e->captured_packets, (long long)e->captured_bytes, (long long)e->dropped);
    return 0;
}

int main(int argc, char **argv)
{
    const char *fallback[] = {"lo"};
    const char *const *adapters = argc > 1 ? (const char *const *)argv + 1 : fallback;
    int count = argc > 1 ? argc - 1 : 1;
    ipm_monitor *m = ipm_new();
    if (!m)
        return 1;
    ipm_set_operation_mode(m, IPM_OM_STAT);
    ipm_set_on_statistics(m, on_statistics, NULL);
    if (ipm_activate_many(m, adapters, count) != IPM_OK) {
        fprintf(stderr, "%s\n", ipm_last_error(m));
        ipm_free(m);
        return 1;
    }
    /* Each do_events waits one packet_timeout (1000 ms by default). */
    for (int second = 0; second < 5 && ipm_get_active(m); second++)
        ipm_do_events(m);
    int64_t received, dropped, adapter_dropped;
    ipm_get_statistics(m, &received, &dropped, &adapter_dropped);
    printf("total: %lld received, %lld dropped\n", (long long)received, (long long)dropped);
    ipm_free(m);
    return 0;
}
