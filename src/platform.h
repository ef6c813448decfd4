/*
 * platform.h - what the library needs to know from the operating system
 * beyond libpcap: interface metadata and the clock. platform_linux.c
 * implements it for Linux; another system implements this one interface.
 */
#ifndef IPM_PLATFORM_H
#define IPM_PLATFORM_H

#include <stdint.h>

#define IPM_OS_NAME_MAX 64

/* One network interface as the OS (not libpcap) describes it. */
typedef struct ipm_os_link {
    char name[IPM_OS_NAME_MAX];
    int ifindex;
    int hw_type;        /* Linux: ARPHRD_* */
    int mtu;
    int addr_len;
    uint8_t addr[32];   /* link-layer address, addr_len bytes */
    char alias[256];    /* "" when none */
    char kind[32];      /* virtual link kind ("veth", "bridge"...), "" when none */
    char driver[32];    /* driver name, "" when unknown */
} ipm_os_link;

/* The interfaces of the caller's network namespace, as a malloc'd array
 * (free() it). Returns 0, or -1 with errno set. */
int ipm_os_list_links(ipm_os_link **links, int *count);

/* The link-layer type and 6-byte MAC of one interface; 0 or -1. */
int ipm_os_hw_address(const char *name, int *hw_type, uint8_t mac[6]);

/* The IANA ifType for an OS link-layer type. */
int ipm_os_iana_iftype(int hw_type);

/* A one-line description of an interface for when libpcap has none. */
void ipm_os_describe(const ipm_os_link *link, int is_loopback, int is_wireless,
                     char *out, unsigned size);

#endif
