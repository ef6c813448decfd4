/*
 * netns_harness.h - network namespaces joined by a veth pair, for the C tests
 * that capture real packets.
 *
 * nh_pair_create() makes two namespaces `a` and `b`, each holding one end of
 * a veth pair with fixed MACs (02:77:00:00:00:01 / :02), IPv4 10.77.0.1/24 /
 * .2/24, IPv6 fd77::1/64 / ::2/64 (nodad), static neighbour entries (no ARP
 * or ND during a test), accept_ra=0 and addr_gen_mode=1 (no link-local
 * address, so no router solicitations). Names carry the pid so that several
 * test processes can run at once on one machine.
 *
 * Cleanup: a small reaper process, forked before anything is created, learns
 * each namespace name through a pipe and deletes the namespaces when the pipe
 * closes: at exit (atexit), on a fatal signal (our handler), and even when
 * the test is SIGKILLed (ctest's timeout). A watchdog alarm ends a hung test
 * through the same path.
 *
 * The test process itself enters namespace `a` with nh_enter() (setns(2) plus
 * a private /sys, as `ip netns exec` does, so code that reads
 * /sys/class/net sees the namespace's interfaces) and makes sockets inside
 * `b` with nh_socket(), which enters `b` only for the socket() call: a socket
 * stays in the namespace it was created in.
 */
#ifndef NETNS_HARNESS_H
#define NETNS_HARNESS_H

#include <sys/types.h>

typedef struct nh_host {
    char ns[40];     /* namespace name (under /run/netns) */
    char ifname[16]; /* its veth end */
    char mac[18];    /* "02:77:00:00:00:01" */
    char mac_dash[18]; /* "02-77-00-00-00-01", as ipmonitor prints it */
    char ip4[16];
    char ip6[40];
    int ifindex;     /* inside its namespace */
} nh_host;

typedef struct nh_pair {
    nh_host a, b;
} nh_pair;

/* Create the pair and wait (polling the link flags) until both ends are up
 * and running. Returns 0, or -1 after printing why. */
int nh_pair_create(nh_pair *p);

/* Move the calling thread into namespace `ns` (with its own /sys). Call
 * before starting threads: the first call unshares the mount namespace. */
int nh_enter(const char *ns);

/* A socket created inside namespace `ns`; the calling thread's namespace is
 * unchanged when it returns. -1 on error. */
int nh_socket(const char *ns, int domain, int type, int protocol);

/* Run a shell command made from fmt; returns its exit status (or -1). */
int nh_run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Start a command (argv, NULL-terminated) with stdout to /dev/null and
 * stderr to a pipe whose read end is stored in *errfd (if errfd != NULL).
 * Returns the pid or -1. */
pid_t nh_spawn(char *const argv[], int *errfd);

/* End the test with a failure message if it is still running after
 * `seconds` (0 disables). The namespaces are removed on the way out. */
void nh_watchdog(unsigned seconds);

/* Remove every namespace made so far now (also done at exit). */
void nh_cleanup(void);

/* Milliseconds on the monotonic clock. */
long long nh_now_ms(void);

#endif
