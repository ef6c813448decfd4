/*
 * capture.c - print every packet on an adapter (or in a pcap file).
 *
 *   example_capture [ADAPTER-OR-FILE [FILTER]]
 *
 * With no adapter it picks the first one that is up and not a loopback.
 * Stops after 10 packets, or at the end of a file.
 */
#include <ipmonitor.h>
#include <stdio.h>

static int on_packet(const ipm_packet_event *e, void *user)
{
    int *count = user;
    const char *dir = e->direction == IPM_PACKET_DIRECTION_INCOMING   ? "in"
                      : e->direction == IPM_PACKET_DIRECTION_OUTGOING ? "out"
                                                                      : "?";
    ++*count;
    printf("%lld.%09ld %-3s %s %u bytes (%u captured)\n", (long long)e->time_stamp.tv_sec,
           e->time_stamp.tv_nsec, dir, e->adapter, e->packet_size, e->data_size);
    return 0;
}

static const char *default_adapter(ipm_monitor *m)
{
    for (int i = 0; i < ipm_get_adapter_count(m); i++)
        if (ipm_get_adapter_is_up(m, i) == 1 && ipm_get_adapter_is_loopback(m, i) == 0 &&
            ipm_get_adapter_id(m, i) > 0)
            return ipm_get_adapter_name(m, i);
    return "lo";
}

int main(int argc, char **argv)
{
    ipm_monitor *m = ipm_new();
    int count = 0;
    if (!m || ipm_list_adapters(m) != IPM_OK) {
        fprintf(stderr, "cannot list adapters: %s\n", m ? ipm_last_error(m) : "out of memory");
        return 1;
    }
    const char *adapter = argc > 1 ? argv[1] : default_adapter(m);
    if (argc > 2 && ipm_set_filter(m, argv[2]) != IPM_OK) {
        fprintf(stderr, "%s\n", ipm_last_error(m));
        return 1;
    }
    ipm_set_on_packet(m, on_packet, &count);
    if (ipm_activate(m, adapter) != IPM_OK) {
        fprintf(stderr, "%s\n", ipm_last_error(m));
        ipm_free(m);
        return 1;
    }
    printf("capturing on %s\n", adapter);
    while (ipm_get_active(m) && count < 10)
        ipm_do_events(m);
    ipm_free(m);
    return 0;
}
