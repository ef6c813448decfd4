/*
 * netns_harness.c - the veth-pair namespaces of netns_harness.h: creation
 * with `ip`, the reaper that removes them whatever way the test ends, and
 * setns(2)-based helpers to work inside them from one process.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "netns_harness.h"

#include <errno.h>
#include <fcntl.h>
#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int g_reaper_fd = -1;  /* write end of the pipe to the reaper */
static pid_t g_reaper_pid = -1;
static pid_t g_owner_pid = -1; /* the process that owns the namespaces */
static int g_private_mnt;      /* mount namespace unshared (for /sys) */
static unsigned g_counter;

long long nh_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The reaper: collect namespace names until the pipe closes, then remove
 * them the way `ip netns del` does (detach the bind mount, unlink). It runs
 * in the original mount namespace, ignores the signals aimed at the test and
 * keeps no stdout/stderr open so it never holds up ctest's output pipes. */
static void reaper_main(int rfd)
{
    static char names[64][48];
    char buf[256];
    size_t have = 0;
    int n = 0;
    int devnull = open("/dev/null", O_RDWR);

    signal(SIGINT, SIG_IGN);
    signal(SIGTERM, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
    signal(SIGALRM, SIG_IGN);
    if (devnull >= 0) {
        dup2(devnull, 0);
        dup2(devnull, 1);
        dup2(devnull, 2);
    }
    for (;;) {
        ssize_t r = read(rfd, buf + have, sizeof buf - 1 - have);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        have += (size_t)r;
        char *nl;
        while ((nl = memchr(buf, '\n', have)) != NULL) {
            *nl = '\0';
            if (n < 64)
                snprintf(names[n++], sizeof names[0], "%.47s", buf);
            have -= (size_t)(nl + 1 - buf);
            memmove(buf, nl + 1, have);
        }
    }
    for (int i = 0; i < n; i++) {
        char path[128];
        snprintf(path, sizeof path, "/run/netns/%.47s", names[i]);
        umount2(path, MNT_DETACH);
        unlink(path);
    }
    _exit(0);
}

/* Async-signal-safe: close the pipe and wait until the reaper is done. */
void nh_cleanup(void)
{
    if (getpid() != g_owner_pid || g_reaper_fd < 0)
        return;
    close(g_reaper_fd);
    g_reaper_fd = -1;
    while (waitpid(g_reaper_pid, NULL, 0) < 0 && errno == EINTR) {
    }
}

static void on_signal(int sig)
{
    static const char msg[] = "netns_harness: watchdog expired, test hung\n";
    if (sig == SIGALRM)
        (void)!write(2, msg, sizeof msg - 1);
    nh_cleanup();
    signal(sig, SIG_DFL);
    raise(sig);
}

static int start_reaper(void)
{
    int fds[2];
    if (g_reaper_fd >= 0)
        return 0;
    if (pipe2(fds, O_CLOEXEC) != 0)
        return -1;
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        close(fds[1]);
        setsid(); /* not in the test's process group: survives its kill */
        reaper_main(fds[0]);
    }
    close(fds[0]);
    g_reaper_fd = fds[1];
    g_reaper_pid = pid;
    g_owner_pid = getpid();
    atexit(nh_cleanup);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGALRM, SIGABRT, SIGQUIT};
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        sigaction(sigs[i], &sa, NULL);
    return 0;
}

static int tell_reaper(const char *ns)
{
    char line[64];
    int len = snprintf(line, sizeof line, "%s\n", ns);
    return write(g_reaper_fd, line, (size_t)len) == len ? 0 : -1;
}

void nh_watchdog(unsigned seconds)
{
    const char *env = getenv("IPM_TEST_WATCHDOG");
    if (env && *env)
        seconds = (unsigned)atoi(env);
    if (start_reaper() != 0)
        return;
    alarm(seconds);
}

int nh_run(const char *fmt, ...)
{
    char cmd[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    int st = system(cmd);
    if (st == -1 || !WIFEXITED(st))
        return -1;
    if (WEXITSTATUS(st) != 0 && getenv("IPM_TEST_VERBOSE"))
        fprintf(stderr, "command failed (%d): %s\n", WEXITSTATUS(st), cmd);
    return WEXITSTATUS(st);
}

pid_t nh_spawn(char *const argv[], int *errfd)
{
    int fds[2] = {-1, -1};
    if (errfd && pipe2(fds, O_CLOEXEC) != 0)
        return -1;
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        /* Dies with the test, however the test ends: no stray tcpdump. */
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != parent)
            _exit(127);
        int devnull = open("/dev/null", O_RDWR);
        dup2(devnull, 0);
        dup2(devnull, 1);
        if (errfd)
            dup2(fds[1], 2);
        execvp(argv[0], argv);
        _exit(127);
    }
    if (errfd) {
        close(fds[1]);
        *errfd = fds[0];
    }
    return pid;
}

/* The link flags of `ifname` inside `ns`; -1 on error. */
static int link_flags(const char *ns, const char *ifname, int *ifindex)
{
    int s = nh_socket(ns, AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0)
        return -1;
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", ifname);
    int flags = -1;
    if (ioctl(s, SIOCGIFFLAGS, &ifr) == 0) {
        flags = ifr.ifr_flags & 0xffff;
        if (ioctl(s, SIOCGIFINDEX, &ifr) == 0)
            *ifindex = ifr.ifr_ifindex;
    }
    close(s);
    return flags;
}

/* Poll the flags until both ends are up with carrier: no fixed sleep. */
static int wait_up(nh_pair *p, int timeout_ms)
{
    long long deadline = nh_now_ms() + timeout_ms;
    const struct timespec tick = {0, 5 * 1000 * 1000};
    while (nh_now_ms() < deadline) {
        int fa = link_flags(p->a.ns, p->a.ifname, &p->a.ifindex);
        int fb = link_flags(p->b.ns, p->b.ifname, &p->b.ifindex);
        int want = IFF_UP | IFF_RUNNING;
        if (fa >= 0 && fb >= 0 && (fa & want) == want && (fb & want) == want)
            return 0;
        nanosleep(&tick, NULL);
    }
    fprintf(stderr, "netns_harness: %s/%s did not come up\n", p->a.ifname, p->b.ifname);
    return -1;
}

static void fill_host(nh_host *h, char side, int last_mac_byte, const char *tag)
{
    snprintf(h->ns, sizeof h->ns, "ipmc%c%s", side, tag);
    snprintf(h->ifname, sizeof h->ifname, "v%c%s", side, tag);
    snprintf(h->mac, sizeof h->mac, "02:77:00:00:00:%02x", last_mac_byte);
    snprintf(h->mac_dash, sizeof h->mac_dash, "02-77-00-00-00-%02X", last_mac_byte);
    snprintf(h->ip4, sizeof h->ip4, "10.77.0.%d", last_mac_byte);
    snprintf(h->ip6, sizeof h->ip6, "fd77::%d", last_mac_byte);
    h->ifindex = 0;
}

static int configure_host(const nh_host *h, const nh_host *peer)
{
    int rc = 0;
    /* No RA, no link-local address, and MLD reports (for the solicited-node
     * group) all sent within milliseconds of link-up instead of over the
     * next second or two, so tests that start later see no stray packet. */
    rc |= nh_run("ip netns exec %s sysctl -qw net.ipv6.conf.%s.accept_ra=0 "
                 "net.ipv6.conf.%s.addr_gen_mode=1 "
                 "net.ipv6.conf.%s.mldv1_unsolicited_report_interval=1 "
                 "net.ipv6.conf.%s.mldv2_unsolicited_report_interval=1 >/dev/null",
                 h->ns, h->ifname, h->ifname, h->ifname, h->ifname);
    rc |= nh_run("ip -n %s link set lo up", h->ns);
    rc |= nh_run("ip -n %s addr add %s/24 dev %s", h->ns, h->ip4, h->ifname);
    rc |= nh_run("ip -n %s -6 addr add %s/64 dev %s nodad", h->ns, h->ip6, h->ifname);
    rc |= nh_run("ip -n %s link set %s up", h->ns, h->ifname);
    rc |= nh_run("ip -n %s neigh replace %s lladdr %s dev %s nud permanent",
                 h->ns, peer->ip4, peer->mac, h->ifname);
    rc |= nh_run("ip -n %s -6 neigh replace %s lladdr %s dev %s nud permanent",
                 h->ns, peer->ip6, peer->mac, h->ifname);
    return rc;
}

/* Wait until nothing has crossed a's end for quiet_ms (the kernel's MLD
 * reports for the new addresses come some ms after link-up), so that a test
 * starting now sees only its own packets. Observed with a packet socket. */
static int wait_quiet(const nh_pair *p, int quiet_ms, int timeout_ms)
{
    int s = nh_socket(p->a.ns, AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL));
    if (s < 0)
        return -1;
    struct sockaddr_ll sll = {.sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL),
                              .sll_ifindex = p->a.ifindex};
    if (bind(s, (struct sockaddr *)&sll, sizeof sll) != 0) {
        close(s);
        return -1;
    }
    long long deadline = nh_now_ms() + timeout_ms;
    int rc = -1;
    char buf[2048];
    while (nh_now_ms() < deadline) {
        struct pollfd pfd = {.fd = s, .events = POLLIN};
        int r = poll(&pfd, 1, quiet_ms);
        if (r == 0) {
            rc = 0;
            break;
        }
        if (r > 0)
            (void)recv(s, buf, sizeof buf, MSG_DONTWAIT);
    }
    close(s);
    return rc;
}

int nh_pair_create(nh_pair *p)
{
    char tag[24];
    snprintf(tag, sizeof tag, "%dx%u", (int)getpid(), g_counter++);
    fill_host(&p->a, 'a', 1, tag);
    fill_host(&p->b, 'b', 2, tag);
    if (start_reaper() != 0) {
        perror("netns_harness: reaper");
        return -1;
    }
    if (tell_reaper(p->a.ns) || tell_reaper(p->b.ns)) {
        perror("netns_harness: reaper pipe");
        return -1;
    }
    if (nh_run("ip netns add %s", p->a.ns) || nh_run("ip netns add %s", p->b.ns) ||
        nh_run("ip link add %s netns %s address %s type veth peer name %s netns %s address %s",
               p->a.ifname, p->a.ns, p->a.mac, p->b.ifname, p->b.ns, p->b.mac) ||
        configure_host(&p->a, &p->b) || configure_host(&p->b, &p->a)) {
        fprintf(stderr, "netns_harness: could not set up %s/%s\n", p->a.ns, p->b.ns);
        return -1;
    }
    if (wait_up(p, 10000) != 0)
        return -1;
    if (wait_quiet(p, 150, 5000) != 0)
        fprintf(stderr, "netns_harness: %s never went quiet\n", p->a.ifname);
    return 0;
}

static int open_ns(const char *ns)
{
    char path[96];
    snprintf(path, sizeof path, "/run/netns/%s", ns);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        fprintf(stderr, "netns_harness: open %s: %s\n", path, strerror(errno));
    return fd;
}

int nh_enter(const char *ns)
{
    int fd = open_ns(ns);
    if (fd < 0)
        return -1;
    if (!g_private_mnt) {
        /* A mount namespace of our own so /sys can show the netns, as
         * `ip netns exec` does; slave so host mounts still propagate in. */
        if (unshare(CLONE_NEWNS) != 0 || mount("none", "/", "none", MS_REC | MS_SLAVE, NULL) != 0) {
            fprintf(stderr, "netns_harness: private mounts: %s\n", strerror(errno));
            close(fd);
            return -1;
        }
        g_private_mnt = 1;
    }
    int rc = setns(fd, CLONE_NEWNET);
    close(fd);
    if (rc != 0) {
        fprintf(stderr, "netns_harness: setns %s: %s\n", ns, strerror(errno));
        return -1;
    }
    umount2("/sys", MNT_DETACH);
    if (mount(ns, "/sys", "sysfs", 0, NULL) != 0) {
        fprintf(stderr, "netns_harness: mount /sys: %s\n", strerror(errno));
        return -1;
    }
    return 0;
}

int nh_socket(const char *ns, int domain, int type, int protocol)
{
    int back = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    int target = open_ns(ns);
    int s = -1;
    if (back >= 0 && target >= 0 && setns(target, CLONE_NEWNET) == 0) {
        s = socket(domain, type, protocol);
        int saved = errno;
        if (setns(back, CLONE_NEWNET) != 0) {
            fprintf(stderr, "netns_harness: cannot return from %s\n", ns);
            abort();
        }
        errno = saved;
    }
    if (back >= 0)
        close(back);
    if (target >= 0)
        close(target);
    return s;
}
