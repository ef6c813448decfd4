/*
 * platform_posix.c - platform.h with POSIX calls only: getifaddrs(3),
 * if_nametoindex(3), ioctl-free interface flags, a pipe for the wake-up.
 * No Linux header, no netlink, no eventfd, no socket filter. Built with
 * -DIPM_PLATFORM=posix; the start of a macOS or BSD port, and a check, in
 * the tests, that the library needs nothing more than platform.h says.
 *
 * What it cannot know: an interface's alias, virtual kind and driver (so
 * descriptions are generic), its hardware type beyond loopback/Ethernet,
 * and why a capture socket failed (no SO_ERROR meaning is portable): the
 * interface's own state (gone, or not up) is asked instead. The kernel filter is left to libpcap's
 * pcap_setfilter; direction is then selected by pcap_setdirection.
 */
#include "platform.h"

#include "ipmonitor.h"

#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <unistd.h>
#if defined(AF_LINK)
#include <net/if_dl.h> /* BSD and macOS: link-layer addresses */
#elif defined(AF_PACKET)
#include <netpacket/packet.h> /* glibc's portable sockaddr_ll */
#endif

/* This file's own hw_type values (ipm_os_link.hw_type). */
enum { HW_OTHER, HW_ETHERNET, HW_LOOPBACK };

/* The link-layer address of one getifaddrs entry, if it carries one. */
static int link_address(const struct ifaddrs *ifa, uint8_t *addr, int size)
{
    if (!ifa->ifa_addr)
        return -1;
#if defined(AF_LINK)
    if (ifa->ifa_addr->sa_family != AF_LINK)
        return -1;
    const struct sockaddr_dl *dl = (const struct sockaddr_dl *)ifa->ifa_addr;
    int len = dl->sdl_alen < size ? dl->sdl_alen : size;
    memcpy(addr, LLADDR(dl), len);
    return len;
#elif defined(AF_PACKET)
    if (ifa->ifa_addr->sa_family != AF_PACKET)
        return -1;
    const struct sockaddr_ll *ll = (const struct sockaddr_ll *)ifa->ifa_addr;
    int len = ll->sll_halen < size ? ll->sll_halen : size;
    memcpy(addr, ll->sll_addr, len);
    return len;
#else
    (void)addr;
    (void)size;
    return -1;
#endif
}

/* SIOCGIFMTU is in every BSD, macOS and Linux; 0 when it cannot tell. */
static int link_mtu(const char *name)
{
    struct ifreq ifr;
    int mtu = 0, fd = socket(AF_INET, SOCK_DGRAM, 0);
    if (fd < 0)
        return 0;
    memset(&ifr, 0, sizeof ifr);
    snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", name);
    if (ioctl(fd, SIOCGIFMTU, &ifr) == 0)
        mtu = ifr.ifr_mtu;
    close(fd);
    return mtu;
}

static ipm_os_link *find_or_add(ipm_os_link **links, int *count, int *cap, const char *name)
{
    for (int i = 0; i < *count; i++)
        if (strcmp((*links)[i].name, name) == 0)
            return &(*links)[i];
    if (*count == *cap) {
        int ncap = *cap ? *cap * 2 : 16;
        ipm_os_link *grown = realloc(*links, ncap * sizeof **links);
        if (!grown)
            return NULL;
        *links = grown;
        *cap = ncap;
    }
    ipm_os_link *l = &(*links)[(*count)++];
    memset(l, 0, sizeof *l);
    snprintf(l->name, sizeof l->name, "%s", name);
    l->ifindex = (int)if_nametoindex(name);
    l->mtu = link_mtu(name);
    l->hw_type = HW_OTHER;
    return l;
}

int ipm_os_list_links(ipm_os_link **links, int *count)
{
    struct ifaddrs *all;
    int cap = 0;
    *links = NULL;
    *count = 0;
    if (getifaddrs(&all) != 0)
        return -1;
    for (const struct ifaddrs *ifa = all; ifa; ifa = ifa->ifa_next) {
        ipm_os_link *l = find_or_add(links, count, &cap, ifa->ifa_name);
        if (!l) {
            freeifaddrs(all);
            free(*links);
            *links = NULL;
            *count = 0;
            errno = ENOMEM;
            return -1;
        }
        l->up = !!(ifa->ifa_flags & IFF_UP);
        l->running = !!(ifa->ifa_flags & IFF_RUNNING);
        l->loopback = !!(ifa->ifa_flags & IFF_LOOPBACK);
        if (ifa->ifa_flags & IFF_LOOPBACK)
            l->hw_type = HW_LOOPBACK;
        int len = link_address(ifa, l->addr, (int)sizeof l->addr);
        if (len >= 0) {
            l->addr_len = len;
            if (len == 6 && l->hw_type != HW_LOOPBACK)
                l->hw_type = HW_ETHERNET; /* a 6-byte address: Ethernet-like */
        }
    }
    freeifaddrs(all);
    return 0;
}

/* No portable way to be told of interface changes: the caller lists the
 * interfaces again (at most once per do_events wait, see follow.c). */
int ipm_os_link_watch_open(void)
{
    errno = ENOTSUP;
    return -1;
}

int ipm_os_link_watch_read(int fd, ipm_os_link_change_fn fn, void *user)
{
    (void)fd;
    (void)fn;
    (void)user;
    return 1;
}

void ipm_os_link_watch_close(int fd)
{
    (void)fd;
}

int ipm_os_iana_iftype(int hw_type)
{
    return hw_type == HW_ETHERNET   ? IPM_IFTYPE_ETHERNET_CSMACD
           : hw_type == HW_LOOPBACK ? IPM_IFTYPE_SOFTWARE_LOOPBACK
                                    : IPM_IFTYPE_OTHER;
}

void ipm_os_describe(const ipm_os_link *link, int is_loopback, int is_wireless,
                     char *out, unsigned size)
{
    snprintf(out, size, "%s", is_loopback                      ? "Loopback interface"
                              : is_wireless                    ? "Wireless adapter"
                              : link->hw_type == HW_ETHERNET   ? "Ethernet adapter"
                                                               : "Network interface");
}

ipm_os_link_kind ipm_os_link_kind_of(const char *name, uint8_t mac[6])
{
    ipm_os_link *links;
    int count;
    ipm_os_link_kind kind = IPM_OS_LINK_UNKNOWN;
    if (ipm_os_list_links(&links, &count) != 0)
        return kind;
    for (int i = 0; i < count; i++) {
        if (strcmp(links[i].name, name) != 0)
            continue;
        if (links[i].hw_type == HW_LOOPBACK) {
            kind = IPM_OS_LINK_LOOPBACK;
        } else if (links[i].hw_type == HW_ETHERNET) {
            kind = IPM_OS_LINK_ETHERNET;
            memcpy(mac, links[i].addr, 6);
        }
    }
    free(links);
    return kind;
}

ipm_os_link_state ipm_os_link_check(int fd, const char *name, unsigned ifindex)
{
    (void)fd;
    if (!ifindex)
        return IPM_OS_LINK_OK;
    if (if_nametoindex(name) != ifindex)
        return IPM_OS_LINK_GONE;
    /* Up or not: the flags getifaddrs reports for the name. */
    struct ifaddrs *all;
    ipm_os_link_state state = IPM_OS_LINK_OK;
    if (getifaddrs(&all) != 0)
        return state;
    for (const struct ifaddrs *ifa = all; ifa; ifa = ifa->ifa_next)
        if (strcmp(ifa->ifa_name, name) == 0) {
            state = ifa->ifa_flags & IFF_UP ? IPM_OS_LINK_OK : IPM_OS_LINK_DOWN;
            break;
        }
    freeifaddrs(all);
    return state;
}

ipm_os_link_state ipm_os_link_error(int fd, const char *name, unsigned ifindex)
{
    /* Clear the error where the capture fd is a socket (a BPF device is
     * not: nothing to clear), so that poll(2) stops reporting it; what it
     * meant is asked of the interface itself. */
    int err = 0;
    socklen_t len = sizeof err;
    (void)getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
    return ipm_os_link_check(fd, name, ifindex);
}

int ipm_os_attach_kernel_filter(int fd, const struct bpf_insn *insns, unsigned count)
{
    /* No portable socket filter: libpcap's pcap_setfilter already put the
     * expression wherever this system filters, and pcap_setdirection
     * selects the direction. */
    (void)fd;
    (void)insns;
    (void)count;
    errno = ENOTSUP;
    return -1;
}

int ipm_os_join_fanout(int fd, int group, int mode)
{
    (void)fd;
    (void)group;
    (void)mode;
    errno = ENOTSUP; /* PACKET_FANOUT is Linux's */
    return -1;
}

static int set_flags(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    return fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) != 0 ||
                   fcntl(fd, F_SETFD, FD_CLOEXEC) != 0
               ? -1
               : 0;
}

/* POSIX has no way to wait on several fds through one (epoll and kqueue
 * are each one system's): ipm_get_fd falls back to a single capture's fd. */
int ipm_os_waitset_open(void)
{
    errno = ENOSYS;
    return -1;
}

int ipm_os_waitset_add(int set, int fd)
{
    (void)set;
    (void)fd;
    errno = ENOSYS;
    return -1;
}

void ipm_os_waitset_close(int set)
{
    (void)set;
}

int ipm_os_wake_open(int fds[2])
{
    if (pipe(fds) != 0) {
        fds[0] = fds[1] = -1;
        return -1;
    }
    if (set_flags(fds[0]) != 0 || set_flags(fds[1]) != 0) {
        ipm_os_wake_close(fds);
        return -1;
    }
    return 0;
}

void ipm_os_wake_signal(const int fds[2])
{
    char one = 1;
    if (write(fds[1], &one, 1) < 0) {
        /* the pipe is full: wake-ups are pending */
    }
}

void ipm_os_wake_drain(const int fds[2])
{
    char drained[64];
    while (read(fds[0], drained, sizeof drained) > 0)
        ;
}

void ipm_os_wake_close(int fds[2])
{
    if (fds[0] >= 0)
        close(fds[0]);
    if (fds[1] >= 0 && fds[1] != fds[0])
        close(fds[1]);
    fds[0] = fds[1] = -1;
}

/* POSIX has no call that names the running executable; readlink(2) is
 * POSIX, and where a procfs is mounted it answers: /proc/self/exe (Linux),
 * /proc/curproc/file (FreeBSD), /proc/curproc/exe (NetBSD). Elsewhere
 * (macOS: _NSGetExecutablePath) the permission advice goes without a path. */
int ipm_os_program_path(char *buf, size_t size)
{
    static const char *const links[] = {"/proc/self/exe", "/proc/curproc/file",
                                        "/proc/curproc/exe"};
    for (size_t i = 0; i < sizeof links / sizeof links[0]; i++) {
        ssize_t n = readlink(links[i], buf, size - 1);
        if (n > 0 && (size_t)n < size - 1) {
            buf[n] = '\0';
            return 1;
        }
    }
    return 0;
}

int ipm_os_adapter_drops(const char *name, int64_t *out)
{
    (void)name;
    (void)out;
    return -1; /* libpcap's own ps_ifdrop is what the ring engine reports here */
}
