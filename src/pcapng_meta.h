/*
 * pcapng_meta.h - each packet's interface name and direction in a pcapng
 * file, read beside libpcap's reader (see pcapng_meta.c).
 */
#ifndef IPM_PCAPNG_META_H
#define IPM_PCAPNG_META_H

#include <stdint.h>

typedef struct ipm_pcapng_meta ipm_pcapng_meta;

/* A walker over the pcapng file at `path`, or NULL when it is not a
 * regular pcapng file (or out of memory): then there is nothing to add. */
ipm_pcapng_meta *ipm_pcapng_meta_open(const char *path);

/* The next packet block's interface name (NULL: the interface has none)
 * and direction (IPM_PACKET_DIRECTION_*), for the packet libpcap has just
 * given with `caplen` and `len`: 1, or 0 (nothing set) once the walker is
 * out of step with libpcap or the file, for good. */
int ipm_pcapng_meta_next(ipm_pcapng_meta *w, uint32_t caplen, uint32_t len, const char **name,
                         int *direction);

void ipm_pcapng_meta_free(ipm_pcapng_meta *w);

#endif
