/*
 * platform_linux.c - platform.h on Linux: interface metadata, link kind,
 * link-down and link-gone detection, the socket filter and the eventfd wake-up.
 *
 * Metadata comes from rtnetlink (RTM_GETLINK) and ioctls rather than from
 * /sys/class/net, because sysfs shows the network namespace it was mounted
 * in, not the caller's: a process that entered another namespace with
 * setns(2) would otherwise describe the wrong interfaces.
 */
#include "platform.h"

#include "ipmonitor.h"

#include <errno.h>
#include <linux/ethtool.h>
#include <linux/filter.h>
#include <linux/if_packet.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <net/if_arp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <unistd.h>

static void copy_attr_string(char *dst, size_t size, const struct rtattr *rta)
{
    size_t len = RTA_PAYLOAD(rta);
    if (len >= size)
        len = size - 1;
    memcpy(dst, RTA_DATA(rta), len);
    dst[len] = '\0';
}

static void parse_linkinfo(ipm_os_link *link, struct rtattr *nest)
{
    int len = RTA_PAYLOAD(nest);
    for (struct rtattr *rta = RTA_DATA(nest); RTA_OK(rta, len); rta = RTA_NEXT(rta, len))
        if (rta->rta_type == IFLA_INFO_KIND)
            copy_attr_string(link->kind, sizeof link->kind, rta);
}

static void parse_link(ipm_os_link *link, struct nlmsghdr *nh)
{
    struct ifinfomsg *ifi = NLMSG_DATA(nh);
    int len = IFLA_PAYLOAD(nh);
    memset(link, 0, sizeof *link);
    link->ifindex = ifi->ifi_index;
    link->hw_type = ifi->ifi_type;
    link->up = !!(ifi->ifi_flags & IFF_UP);
    link->running = !!(ifi->ifi_flags & IFF_RUNNING);
    link->loopback = !!(ifi->ifi_flags & IFF_LOOPBACK);
    for (struct rtattr *rta = IFLA_RTA(ifi); RTA_OK(rta, len); rta = RTA_NEXT(rta, len)) {
        switch (rta->rta_type) {
        case IFLA_IFNAME:
            copy_attr_string(link->name, sizeof link->name, rta);
            break;
        case IFLA_ADDRESS:
            link->addr_len = RTA_PAYLOAD(rta) < sizeof link->addr ? (int)RTA_PAYLOAD(rta)
                                                                  : (int)sizeof link->addr;
            memcpy(link->addr, RTA_DATA(rta), link->addr_len);
            break;
        case IFLA_MTU:
            memcpy(&link->mtu, RTA_DATA(rta), sizeof link->mtu);
            break;
        case IFLA_IFALIAS:
            copy_attr_string(link->alias, sizeof link->alias, rta);
            break;
        case IFLA_LINKINFO:
            parse_linkinfo(link, rta);
            break;
        }
    }
}

/* Fill link->driver through ethtool; physical and most virtual drivers
 * answer, the loopback does not. */
static void read_driver(int sock, ipm_os_link *link)
{
    struct ethtool_drvinfo info = {.cmd = ETHTOOL_GDRVINFO};
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%.*s", (int)sizeof ifr.ifr_name - 1, link->name);
    ifr.ifr_data = (void *)&info;
    if (ioctl(sock, SIOCETHTOOL, &ifr) == 0)
        snprintf(link->driver, sizeof link->driver, "%s", info.driver);
}

static int request_link_dump(int fd)
{
    struct {
        struct nlmsghdr nh;
        struct ifinfomsg ifi;
    } req;
    memset(&req, 0, sizeof req);
    req.nh.nlmsg_len = NLMSG_LENGTH(sizeof req.ifi);
    req.nh.nlmsg_type = RTM_GETLINK;
    req.nh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    req.nh.nlmsg_seq = 1;
    req.ifi.ifi_family = AF_UNSPEC;
    return send(fd, &req, req.nh.nlmsg_len, 0) < 0 ? -1 : 0;
}

/* Append every link of one received datagram; 1 when the dump is done. */
static int collect_links(char *buf, ssize_t n, ipm_os_link **links, int *count, int *cap)
{
    for (struct nlmsghdr *nh = (struct nlmsghdr *)buf; NLMSG_OK(nh, n); nh = NLMSG_NEXT(nh, n)) {
        if (nh->nlmsg_type == NLMSG_DONE)
            return 1;
        if (nh->nlmsg_type == NLMSG_ERROR) {
            errno = EIO;
            return -1;
        }
        if (nh->nlmsg_type != RTM_NEWLINK)
            continue;
        if (*count == *cap) {
            int ncap = *cap ? *cap * 2 : 16;
            ipm_os_link *grown = realloc(*links, ncap * sizeof **links);
            if (!grown)
                return -1;
            *links = grown;
            *cap = ncap;
        }
        parse_link(&(*links)[(*count)++], nh);
    }
    return 0;
}

int ipm_os_list_links(ipm_os_link **links, int *count)
{
    enum { BUF_SIZE = 65536 };
    int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    char *buf = malloc(BUF_SIZE);
    int cap = 0, done = 0;
    *links = NULL;
    *count = 0;
    if (fd < 0 || !buf || request_link_dump(fd) < 0)
        goto fail;
    while (!done) {
        ssize_t n = recv(fd, buf, BUF_SIZE, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            goto fail;
        done = collect_links(buf, n, links, count, &cap);
        if (done < 0)
            goto fail;
    }
    free(buf);
    close(fd);
    int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    for (int i = 0; sock >= 0 && i < *count; i++)
        read_driver(sock, &(*links)[i]);
    if (sock >= 0)
        close(sock);
    return 0;
fail:
    free(buf);
    free(*links);
    *links = NULL;
    *count = 0;
    if (fd >= 0)
        close(fd);
    return -1;
}

int ipm_os_link_watch_open(void)
{
    int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_ROUTE);
    if (fd < 0)
        return -1;
    struct sockaddr_nl sa = {.nl_family = AF_NETLINK, .nl_groups = RTMGRP_LINK};
    /* Room for a burst (hundreds of veths made at once): a queue that
     * overflows anyway is told by ENOBUFS and answered by listing again. */
    int size = 4 << 20;
    (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

int ipm_os_link_watch_read(int fd, ipm_os_link_change_fn fn, void *user)
{
    enum { BUF_SIZE = 32768 };
    char buf[BUF_SIZE] __attribute__((aligned(NLMSG_ALIGNTO)));
    int lost = 0;
    for (;;) {
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == ENOBUFS) {
            lost = 1; /* the kernel dropped messages: list again */
            continue;
        }
        if (n <= 0)
            return lost;
        for (struct nlmsghdr *nh = (struct nlmsghdr *)buf; NLMSG_OK(nh, n); nh = NLMSG_NEXT(nh, n)) {
            if (nh->nlmsg_type != RTM_NEWLINK && nh->nlmsg_type != RTM_DELLINK)
                continue;
            ipm_os_link link;
            parse_link(&link, nh);
            if (link.name[0])
                fn(user, &link, nh->nlmsg_type == RTM_DELLINK);
        }
    }
}

void ipm_os_link_watch_close(int fd)
{
    if (fd >= 0)
        close(fd);
}

/* IANA ifType 199 (infiniband) has no public IPM_IFTYPE_* name. */
#define IANA_IFTYPE_INFINIBAND 199

static int hw_address(const char *name, int *hw_type, uint8_t mac[6])
{
    struct ifreq ifr;
    int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (sock < 0)
        return -1;
    memset(&ifr, 0, sizeof ifr);
    snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", name);
    int rc = ioctl(sock, SIOCGIFHWADDR, &ifr);
    close(sock);
    if (rc < 0)
        return -1;
    *hw_type = ifr.ifr_hwaddr.sa_family;
    memcpy(mac, ifr.ifr_hwaddr.sa_data, 6);
    return 0;
}

ipm_os_link_kind ipm_os_link_kind_of(const char *name, uint8_t mac[6])
{
    int hw_type = 0;
    if (hw_address(name, &hw_type, mac) != 0)
        return IPM_OS_LINK_UNKNOWN;
    return hw_type == ARPHRD_LOOPBACK ? IPM_OS_LINK_LOOPBACK
           : hw_type == ARPHRD_ETHER  ? IPM_OS_LINK_ETHERNET
                                      : IPM_OS_LINK_UNKNOWN;
}

ipm_os_link_state ipm_os_link_error(int fd, const char *name, unsigned ifindex)
{
    int err = 0;
    socklen_t len = sizeof err;
    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len); /* also clears it */
    /* An interface removed, or removed and made again under the same name
     * (which gives it a new index), has left this socket for good. */
    if (ifindex && if_nametoindex(name) != ifindex)
        return IPM_OS_LINK_GONE;
    return err == ENETDOWN ? IPM_OS_LINK_DOWN : IPM_OS_LINK_OK;
}

ipm_os_link_state ipm_os_link_check(int fd, const char *name, unsigned ifindex)
{
    if (!ifindex)
        return IPM_OS_LINK_OK;
    /* Asked through the capture socket, so of the namespace it captures
     * in, whatever namespace the calling thread is in now. */
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%.*s", (int)sizeof ifr.ifr_name - 1, name);
    if (ioctl(fd, SIOCGIFINDEX, &ifr) != 0)
        return errno == ENODEV ? IPM_OS_LINK_GONE : IPM_OS_LINK_OK;
    if ((unsigned)ifr.ifr_ifindex != ifindex)
        return IPM_OS_LINK_GONE; /* removed and made again */
    if (ioctl(fd, SIOCGIFFLAGS, &ifr) != 0)
        return IPM_OS_LINK_OK;
    return ifr.ifr_flags & IFF_UP ? IPM_OS_LINK_OK : IPM_OS_LINK_DOWN;
}

int ipm_os_attach_kernel_filter(int fd, const struct bpf_insn *insns, unsigned count)
{
    /* libpcap's struct bpf_insn and the kernel's sock_filter are the same
     * classic BPF instruction. */
    struct sock_fprog fprog = {
        .len = (unsigned short)count,
        .filter = (struct sock_filter *)insns,
    };
    return setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &fprog, sizeof fprog) == 0 ? 0 : -1;
}

int ipm_os_join_fanout(int fd, int group, int mode)
{
    static const unsigned types[] = {
        [IPM_FANOUT_HASH] = PACKET_FANOUT_HASH | PACKET_FANOUT_FLAG_DEFRAG,
        [IPM_FANOUT_LB] = PACKET_FANOUT_LB,
        [IPM_FANOUT_CPU] = PACKET_FANOUT_CPU,
        [IPM_FANOUT_QM] = PACKET_FANOUT_QM,
        [IPM_FANOUT_ROLLOVER] = PACKET_FANOUT_ROLLOVER,
        [IPM_FANOUT_RANDOM] = PACKET_FANOUT_RND,
    };
    if (mode < 0 || mode >= (int)(sizeof types / sizeof types[0])) {
        errno = EINVAL;
        return -1;
    }
    /* group in the low 16 bits, type and flags in the high 16 (unsigned:
     * the defrag flag is bit 31) */
    unsigned bits = ((unsigned)group & 0xffffu) | types[mode] << 16;
    int arg;
    memcpy(&arg, &bits, sizeof arg);
    return setsockopt(fd, SOL_PACKET, PACKET_FANOUT, &arg, sizeof arg) == 0 ? 0 : -1;
}

int ipm_os_waitset_open(void)
{
    return epoll_create1(EPOLL_CLOEXEC);
}

int ipm_os_waitset_add(int set, int fd)
{
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
    return epoll_ctl(set, EPOLL_CTL_ADD, fd, &ev) == 0 || errno == EEXIST ? 0 : -1;
}

void ipm_os_waitset_close(int set)
{
    if (set >= 0)
        close(set);
}

int ipm_os_wake_open(int fds[2])
{
    fds[0] = fds[1] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    return fds[0] < 0 ? -1 : 0;
}

void ipm_os_wake_signal(const int fds[2])
{
    uint64_t one = 1;
    if (write(fds[1], &one, sizeof one) < 0) {
        /* the counter is already non-zero: a wake-up is pending */
    }
}

void ipm_os_wake_drain(const int fds[2])
{
    uint64_t drained;
    while (read(fds[0], &drained, sizeof drained) > 0)
        ;
}

void ipm_os_wake_close(int fds[2])
{
    if (fds[0] >= 0)
        close(fds[0]);
    fds[0] = fds[1] = -1;
}

int ipm_os_iana_iftype(int hw_type)
{
    switch (hw_type) {
    case ARPHRD_ETHER:
    case ARPHRD_EETHER:
        return IPM_IFTYPE_ETHERNET_CSMACD;
    case ARPHRD_LOOPBACK:
        return IPM_IFTYPE_SOFTWARE_LOOPBACK;
    case ARPHRD_IEEE80211:
    case ARPHRD_IEEE80211_PRISM:
    case ARPHRD_IEEE80211_RADIOTAP:
        return IPM_IFTYPE_IEEE80211;
    case ARPHRD_PPP:
        return IPM_IFTYPE_PPP;
    case ARPHRD_TUNNEL:
    case ARPHRD_TUNNEL6:
    case ARPHRD_SIT:
    case ARPHRD_IPGRE:
#ifdef ARPHRD_IP6GRE
    case ARPHRD_IP6GRE:
#endif
    case ARPHRD_NONE: /* tun, wireguard */
        return IPM_IFTYPE_TUNNEL;
    case ARPHRD_INFINIBAND:
        return IANA_IFTYPE_INFINIBAND;
    default:
        return IPM_IFTYPE_OTHER;
    }
}

void ipm_os_describe(const ipm_os_link *link, int is_loopback, int is_wireless,
                     char *out, unsigned size)
{
    const char *what = is_loopback ? "Loopback interface"
                       : is_wireless ? "Wireless adapter"
                       : link->kind[0] ? NULL
                       : link->hw_type == ARPHRD_ETHER ? "Ethernet adapter"
                       : ipm_os_iana_iftype(link->hw_type) == IPM_IFTYPE_TUNNEL ? "Tunnel interface"
                       : "Network interface";
    if (!what) {
        if (strcmp(link->kind, "veth") == 0)
            snprintf(out, size, "Virtual Ethernet pair (veth)");
        else
            snprintf(out, size, "Virtual %s interface", link->kind);
        return;
    }
    if (link->driver[0] && !is_loopback)
        snprintf(out, size, "%s (driver %s)", what, link->driver);
    else
        snprintf(out, size, "%s", what);
}

int ipm_os_program_path(char *buf, size_t size)
{
    ssize_t n = readlink("/proc/self/exe", buf, size - 1);
    if (n <= 0 || (size_t)n >= size - 1)
        return 0;
    buf[n] = '\0';
    return 1;
}

/* /proc/net/dev's "drop" column, which libpcap reads: rx_dropped plus
 * rx_missed_errors. */
int ipm_os_adapter_drops(const char *name, int64_t *out)
{
    static const char *const counters[] = {"rx_dropped", "rx_missed_errors"};
    int64_t total = 0;
    if (strchr(name, '/'))
        return -1;
    for (size_t i = 0; i < sizeof counters / sizeof counters[0]; i++) {
        char path[128];
        snprintf(path, sizeof path, "/sys/class/net/%s/statistics/%s", name, counters[i]);
        FILE *f = fopen(path, "re");
        long long v = 0;
        int ok = f && fscanf(f, "%lld", &v) == 1;
        if (f)
            fclose(f);
        if (!ok)
            return -1;
        total += v;
    }
    *out = total;
    return 0;
}
