/*
 * platform.h - every operating-system call the library makes beyond
 * libpcap and the C library: interface metadata, the link kind of a
 * capture adapter, link-down and link-gone detection, the socket filter and the wake-up
 * of a waiting do_events.
 *
 * Two files implement it: platform_linux.c (rtnetlink, ioctl, eventfd,
 * SO_ATTACH_FILTER) and platform_posix.c (getifaddrs, if_nametoindex, a
 * pipe; no Linux headers). CMake's IPM_PLATFORM picks one. A port to
 * another system (macOS, a BSD) is one more file answering these calls;
 * nothing else in src/ includes an OS-specific header.
 */
#ifndef IPM_PLATFORM_H
#define IPM_PLATFORM_H

#include <stddef.h>
#include <stdint.h>

#define IPM_OS_NAME_MAX 64

/* One network interface as the OS (not libpcap) describes it. */
typedef struct ipm_os_link {
    char name[IPM_OS_NAME_MAX];
    int ifindex;
    int hw_type;        /* the OS's own link-layer type: only for this file's calls */
    int mtu;
    int addr_len;
    uint8_t addr[32];   /* link-layer address, addr_len bytes */
    char alias[256];    /* "" when none */
    char kind[32];      /* virtual link kind ("veth", "bridge"...), "" when none */
    char driver[32];    /* driver name, "" when unknown */
    int up;             /* administratively up (IFF_UP) */
    int running;        /* IFF_RUNNING */
    int loopback;       /* IFF_LOOPBACK */
} ipm_os_link;

/* The interfaces of the caller's network namespace, as a malloc'd array
 * (free() it). Returns 0, or -1 with errno set. */
int ipm_os_list_links(ipm_os_link **links, int *count);

/* Watching the interface set: a socket that turns readable when an
 * interface is added, changed or removed (rtnetlink's RTMGRP_LINK on
 * Linux), in the namespace of the calling thread. Returns the fd
 * (non-blocking, close-on-exec), or -1 where the system has no such thing
 * (posix: the caller lists the interfaces again instead). */
int ipm_os_link_watch_open(void);
/* One change read from the watch: `link` describes the interface (on a
 * removal only name and ifindex are sure); `removed` is 1 for a removal. */
typedef void (*ipm_os_link_change_fn)(void *user, const ipm_os_link *link, int removed);
/* Read every change pending on the watch and hand each to `fn`, in order.
 * Returns 0; 1 when the kernel dropped changes (its queue overflowed): the
 * caller must list the interfaces again to learn the present set. */
int ipm_os_link_watch_read(int fd, ipm_os_link_change_fn fn, void *user);
void ipm_os_link_watch_close(int fd);

/* The IANA ifType (IPM_IFTYPE_*) of a link's hw_type. */
int ipm_os_iana_iftype(int hw_type);

/* A one-line description of an interface for when libpcap has none. */
void ipm_os_describe(const ipm_os_link *link, int is_loopback, int is_wireless,
                     char *out, unsigned size);

/* What a capture adapter is, for telling packet directions apart. */
typedef enum ipm_os_link_kind {
    IPM_OS_LINK_UNKNOWN,  /* not known, or neither of the two below */
    IPM_OS_LINK_ETHERNET, /* `mac` holds its 6-byte address */
    IPM_OS_LINK_LOOPBACK,
} ipm_os_link_kind;

/* The kind of the interface `name`; fills mac[6] for Ethernet. */
ipm_os_link_kind ipm_os_link_kind_of(const char *name, uint8_t mac[6]);

/* The interface index of `name`, 0 when there is none (if_nametoindex). */
unsigned ipm_os_ifindex(const char *name);

/* Why a capture socket's wait reported an error (POLLERR/HUP/NVAL). */
typedef enum ipm_os_link_state {
    IPM_OS_LINK_OK,   /* nothing to report */
    IPM_OS_LINK_DOWN, /* the interface went down; capture resumes when it is up */
    IPM_OS_LINK_GONE, /* removed (or removed and made again): the socket is dead */
} ipm_os_link_state;

/* Read and clear the pending error of capture socket `fd`, opened on the
 * interface `name` whose index was `ifindex` (0: not tied to one). */
ipm_os_link_state ipm_os_link_error(int fd, const char *name, unsigned ifindex);

/* What the system says now of the interface `name` whose index was
 * `ifindex` when capture socket `fd` opened on it (0: not tied to one, OK):
 * GONE when no interface has that name or it has another index, DOWN when
 * it is not up, else OK. Unlike ipm_os_link_error it asks the system, not
 * the socket: a capture whose interface is down is unhooked from it and
 * gets no error at all when the interface is then deleted. */
ipm_os_link_state ipm_os_link_check(int fd, const char *name, unsigned ifindex);

struct bpf_insn;
/* Attach a classic BPF program to capture socket `fd` in the kernel, in
 * place of the one libpcap attached. Returns 0, or -1 when the system
 * cannot (the caller must stay correct without it: libpcap's own filter
 * still runs, only slower). */
int ipm_os_attach_kernel_filter(int fd, const struct bpf_insn *insns, unsigned count);

/* config FanoutMode's values. */
enum ipm_fanout_mode {
    IPM_FANOUT_HASH,     /* by flow hash (fragments defragmented first) */
    IPM_FANOUT_LB,       /* round robin */
    IPM_FANOUT_CPU,      /* by the receiving CPU */
    IPM_FANOUT_QM,       /* by the NIC's receive queue */
    IPM_FANOUT_ROLLOVER, /* fill one socket, then the next */
    IPM_FANOUT_RANDOM,
};
/* Join capture socket `fd` to fanout group `group` (1-65535) in `mode`:
 * the sockets of one group share their interface's packets. 0, or -1 with
 * errno (ENOTSUP where the system has no fanout). */
int ipm_os_join_fanout(int fd, int group, int mode);

/* The machine and the system, for a capture file's section header:
 * "x86_64" and "Linux 6.1.0" (uname), "" where unknown. */
void ipm_os_describe_system(char *hardware, size_t hw_size, char *os, size_t os_size);

/* A wait set: one fd that polls readable while any fd added to it is (an
 * epoll set on Linux), for programs that watch one fd in their own event
 * loop (ipm_get_fd). -1 where the system has none (posix: a port adds
 * kqueue here). An fd closed is dropped from the set by the kernel. */
int ipm_os_waitset_open(void);
/* Add fd for reading: 0, or -1 (one already in the set counts as added). */
int ipm_os_waitset_add(int set, int fd);
void ipm_os_waitset_close(int set);

/* The wake-up of a do_events waiting in poll(2), from another thread:
 * fds[0] is polled for POLLIN, fds[1] written (the same fd when the
 * system has a counter object). Both non-blocking and close-on-exec. */
int ipm_os_wake_open(int fds[2]);
/* Make fds[0] readable; a wake-up already pending is enough. */
void ipm_os_wake_signal(const int fds[2]);
/* Consume every pending wake-up. */
void ipm_os_wake_drain(const int fds[2]);
void ipm_os_wake_close(int fds[2]);

/* The absolute path of the running executable into buf (size > 1), so that
 * a permission error can name the file to setcap; 0 if the OS does not say
 * or the path does not fit. */
int ipm_os_program_path(char *buf, size_t size);

/* The packets the interface `name` itself dropped on receive since it was
 * made (what libpcap reports as ps_ifdrop, counted from its opening) into
 * *out: 0, or -1 when the system does not say. */
int ipm_os_adapter_drops(const char *name, int64_t *out);

#endif
