/*
 * source_kernel_none.c - the statistics engine "kernel" where there is none
 * (every platform but Linux): it needs eBPF socket filters on packet
 * sockets, so every adapter is counted by the ring engine.
 */
#include "source.h"

#include <stdio.h>

ipm_source *ipm_source_open_kernel(ipm_monitor *m, const char *name, int adapter_index,
                                   const ipm_adapter_settings *settings, int *code, char *why,
                                   size_t whylen)
{
    (void)m;
    (void)name;
    (void)adapter_index;
    (void)settings;
    *code = IPM_E_UNSUPPORTED;
    snprintf(why, whylen, "the kernel statistics engine needs Linux's eBPF socket filters");
    return NULL;
}
