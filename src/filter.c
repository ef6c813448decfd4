/*
 * filter.c - pcap-filter(7) expressions and the direction property.
 *
 * Direction is applied in the kernel where the source can: the socket's
 * program is the user's expression joined with `inbound` or `outbound`,
 * which Linux evaluates on the packet type before the packet is copied into
 * the ring (the source's set_direction, libpcap's pcap_setdirection, filters
 * in user space, after the copy; it is set too, for the packets already in
 * the ring, and alone where the platform has no socket filter). A source
 * with IPM_SOURCE_NEEDS_FILTER (live) always gets a filter, even for ""
 * (which compiles to "accept snaplen bytes"), because the kernel truncates
 * packets only to what a socket filter returns; any other source (a file)
 * with no expression gets none, since libpcap would run it for every packet.
 * Everything here goes through the source's ops (source.h).
 */
#include "source.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Link types an expression may be meant for when it is set while inactive. */
static const int candidate_link_types[] = {
    DLT_EN10MB, DLT_LINUX_SLL, DLT_LINUX_SLL2, DLT_IEEE802_11_RADIO, DLT_IEEE802_11,
    DLT_PRISM_HEADER, DLT_RAW, DLT_NULL, DLT_PPP, DLT_IPV4, DLT_IPV6,
};

static const char *direction_word(int direction)
{
    return direction == IPM_PACKET_DIRECTION_INCOMING   ? "inbound"
           : direction == IPM_PACKET_DIRECTION_OUTGOING ? "outbound"
                                                        : NULL;
}

/* The program text: "(expr) and inbound", "inbound", "expr" or "". On a
 * loopback libpcap keeps only the incoming copy of each packet, so the
 * outgoing copy is refused in the kernel too: it never takes ring space. */
static char *compose(const ipm_source *s, const char *expression, int direction,
                     int for_kernel)
{
    const char *word = direction_word(direction);
    if (!word && for_kernel && s->base_dir_method == IPM_DIRMETHOD_INCOMING)
        word = "inbound";
    size_t n = strlen(expression) + 32;
    char *text = malloc(n);
    if (!text)
        return NULL;
    if (!word)
        snprintf(text, n, "%s", expression);
    else if (expression[0])
        snprintf(text, n, "(%s) and %s", expression, word);
    else
        snprintf(text, n, "%s", word);
    return text;
}

char *ipm_filter_kernel_text(const ipm_source *s, const char *expression, int direction)
{
    return compose(s, expression, direction, 1);
}

/* The expression as a message quotes it: whole when short, else its start
 * and its end around "...", so that the reason (said first) and the
 * adapter are never cut off by a long expression. */
#define QUOTE_HEAD 48
#define QUOTE_TAIL 24
typedef struct quoted {
    char text[QUOTE_HEAD + QUOTE_TAIL + 64];
} quoted;

static quoted quote(const char *expression)
{
    quoted q;
    size_t n = strlen(expression);
    if (n <= QUOTE_HEAD + QUOTE_TAIL + 5)
        snprintf(q.text, sizeof q.text, "\"%s\"", expression);
    else
        snprintf(q.text, sizeof q.text, "\"%.*s ... %s\" (%zu characters)", QUOTE_HEAD,
                 expression, expression + n - QUOTE_TAIL, n);
    return q;
}

/* Checked without libpcap's optimizer: parsing and code generation say
 * whether the expression is valid, and the optimizer, which is most of the
 * time a large expression takes (minutes for tens of thousands of terms),
 * runs once, at activation, for the adapter's own link type. */
int ipm_filter_check_any_link_type(ipm_monitor *m, const char *expression)
{
    char first_error[PCAP_ERRBUF_SIZE] = "";
    for (size_t i = 0; i < sizeof candidate_link_types / sizeof candidate_link_types[0]; i++) {
        pcap_t *dead = pcap_open_dead(candidate_link_types[i], IPM_DEFAULT_SNAPLEN);
        struct bpf_program prog;
        if (!dead)
            return ipm_fail(m, IPM_E_NO_MEMORY, "out of memory while checking the filter");
        int rc = pcap_compile(dead, &prog, expression, 0, PCAP_NETMASK_UNKNOWN);
        if (rc == 0)
            pcap_freecode(&prog);
        else if (!first_error[0])
            snprintf(first_error, sizeof first_error, "%s", pcap_geterr(dead));
        pcap_close(dead);
        if (rc == 0)
            return IPM_OK;
    }
    return ipm_fail(m, IPM_E_BAD_FILTER, "bad filter: %s; the filter was %s", first_error,
                    quote(expression).text);
}

/* How many bytes of a packet the program reads, or IPM_DEFAULT_SNAPLEN
 * when that cannot be bounded (an indexed load whose index register may
 * hold anything). Loads from the kernel's ancillary area (SKF_AD_OFF, the
 * top 4 KiB of the offset space: packet type, VLAN) read no packet bytes. */
static uint32_t bytes_read_by(const struct bpf_program *prog)
{
    static const uint32_t width[4] = {4, 2, 1, 0}; /* BPF_W, BPF_H, BPF_B */
    uint32_t needed = 0, max_x = 0;
    int x_bounded = 1;
    for (u_int i = 0; i < prog->bf_len; i++) {
        const struct bpf_insn *in = &prog->bf_insns[i];
        uint32_t size = width[BPF_SIZE(in->code) >> 3], end = 0;
        if (in->k >= 0xfffff000u)
            continue; /* ancillary data */
        if (BPF_CLASS(in->code) == BPF_LD && BPF_MODE(in->code) == BPF_ABS)
            end = in->k + size;
        else if (BPF_CLASS(in->code) == BPF_LD && BPF_MODE(in->code) == BPF_IND)
            end = x_bounded ? max_x + in->k + size : IPM_DEFAULT_SNAPLEN;
        else if (BPF_CLASS(in->code) == BPF_LDX && BPF_MODE(in->code) == BPF_MSH) {
            end = in->k + 1;
            max_x = max_x > 60 ? max_x : 60; /* 4 * (byte & 0xf) */
        } else if (BPF_CLASS(in->code) == BPF_LDX && BPF_MODE(in->code) == BPF_IMM) {
            max_x = max_x > in->k ? max_x : in->k;
        } else if (BPF_CLASS(in->code) == BPF_LDX ||
                   (BPF_CLASS(in->code) == BPF_MISC && BPF_MISCOP(in->code) == BPF_TAX)) {
            x_bounded = 0; /* X from memory or from A: any value */
        }
        if (end > needed)
            needed = end;
    }
    return needed < IPM_DEFAULT_SNAPLEN ? needed : IPM_DEFAULT_SNAPLEN;
}

/* libpcap re-runs the filter in user space over the ring block that was
 * being filled when the filter was installed, on the bytes the kernel kept;
 * with a snapshot shorter than the bytes the filter reads, it would wrongly
 * reject those packets. So the kernel keeps at least what the filter reads
 * (the program's return value); libpcap still hands us only the snapshot. */
static void keep_bytes_filter_reads(struct bpf_program *prog)
{
    uint32_t needed = bytes_read_by(prog);
    for (u_int i = 0; i < prog->bf_len; i++) {
        struct bpf_insn *in = &prog->bf_insns[i];
        if (in->code == (BPF_RET | BPF_K) && in->k != 0 && in->k < needed)
            in->k = needed;
    }
}

/* The programs compiled by one ipm_filter_apply_all, so that each program
 * text is compiled once per kind of source, link type and snapshot length:
 * sources alike (several Ethernet adapters), and a source whose two
 * programs (see splits_direction) have the same text, share a copy.
 * libpcap's optimizer makes a compile cost seconds to minutes for a large
 * expression, so compiling it once matters. */
typedef struct compiled_once {
    char *text;
    const ipm_source_ops *ops; /* the kind of source (how libpcap generates code) */
    int link_type, snapshot;
    struct bpf_program prog;
} compiled_once;

typedef struct compile_memo {
    compiled_once done[2 * IPM_MAX_SOURCES];
    int n;
} compile_memo;

/* A malloc'd copy of `from` (pcap_freecode frees it): 0, or -1. */
static int copy_program(struct bpf_program *to, const struct bpf_program *from)
{
    size_t bytes = from->bf_len * sizeof *from->bf_insns;
    to->bf_insns = malloc(bytes ? bytes : 1);
    if (!to->bf_insns)
        return -1;
    memcpy(to->bf_insns, from->bf_insns, bytes);
    to->bf_len = from->bf_len;
    return 0;
}

static void memo_free(compile_memo *memo)
{
    for (int i = 0; i < memo->n; i++) {
        free(memo->done[i].text);
        pcap_freecode(&memo->done[i].prog);
    }
    memo->n = 0;
}

/* `text` compiled for `s` into `prog`: a copy of an earlier compile when
 * one fits, else libpcap's compile, remembered. 0, or libpcap's -1 (its
 * message in s->error), or -2 when out of memory. */
static int compile_remembered(compile_memo *memo, ipm_source *s, char *text,
                              struct bpf_program *prog)
{
    int snapshot = pcap_snapshot(s->pcap);
    for (int i = 0; i < memo->n; i++) {
        const compiled_once *c = &memo->done[i];
        if (c->ops == s->ops && c->link_type == s->link_type && c->snapshot == snapshot &&
            strcmp(c->text, text) == 0)
            return copy_program(prog, &c->prog) == 0 ? 0 : -2;
    }
    if (ipm_source_compile(s, prog, text) != 0)
        return -1;
    keep_bytes_filter_reads(prog);
    if (memo->n < (int)(sizeof memo->done / sizeof memo->done[0])) {
        compiled_once *c = &memo->done[memo->n];
        if (copy_program(&c->prog, prog) == 0) {
            c->text = text;
            c->ops = s->ops;
            c->link_type = s->link_type;
            c->snapshot = snapshot;
            memo->n++;
            return 1; /* the memo keeps the text */
        }
    }
    return 0;
}

/* Compile one program text for a source; the error names the adapter. */
static int compile_text(ipm_monitor *m, compile_memo *memo, ipm_source *s,
                        const char *expression, int direction, int with_direction,
                        struct bpf_program *prog)
{
    char *text = compose(s, expression, with_direction ? direction : IPM_PACKET_DIRECTION_ANY,
                         with_direction);
    if (!text)
        return ipm_fail(m, IPM_E_NO_MEMORY, "out of memory while compiling the filter");
    int rc = compile_remembered(memo, s, text, prog);
    if (rc != 1)
        free(text);
    if (rc == -2)
        return ipm_fail(m, IPM_E_NO_MEMORY, "out of memory while compiling the filter");
    if (rc >= 0)
        return IPM_OK;
    if (direction_word(direction) && expression[0] == '\0')
        return ipm_fail(m, IPM_E_UNSUPPORTED,
                        "direction %s cannot be applied on \"%s\" (link type %s): %s; set "
                        "direction to ANY (0)",
                        direction == IPM_PACKET_DIRECTION_INCOMING ? "INCOMING" : "OUTGOING",
                        s->name, pcap_datalink_val_to_name(s->link_type), s->error);
    return ipm_fail(m, IPM_E_BAD_FILTER, "bad filter for \"%s\" (link type %s): %s; the filter was %s",
                    s->name, pcap_datalink_val_to_name(s->link_type), s->error,
                    quote(expression).text);
}

/* A source that selects the direction itself (set_direction: a live
 * capture) and whose packets carry no cooked header: libpcap evaluates
 * its filter again in user space on the block being filled when a filter
 * is set, and user-space BPF cannot read the packet type that `inbound`
 * tests, so it would reject that whole block. Such a source gets two
 * programs: the user's expression for libpcap (with pcap_setdirection for
 * the direction in user space) and the expression joined with the
 * direction, attached to the socket for the kernel. */
static int splits_direction(const ipm_source *s)
{
    return s->ops->set_direction && s->link_type != DLT_LINUX_SLL &&
           s->link_type != DLT_LINUX_SLL2;
}

typedef struct compiled_filter {
    int accepts_all; /* no expression, no direction */
    struct bpf_program for_pcap;
    struct bpf_program for_kernel; /* bf_insns NULL when not split */
} compiled_filter;

static int compile_for(ipm_monitor *m, compile_memo *memo, ipm_source *s,
                       const char *expression, int direction, compiled_filter *out)
{
    int split = splits_direction(s);
    memset(out, 0, sizeof *out);
    out->accepts_all = expression[0] == '\0' && !direction_word(direction);
    int rc = compile_text(m, memo, s, expression, direction, !split, &out->for_pcap);
    if (rc == IPM_OK && split && s->ops->set_kernel_filter) {
        rc = compile_text(m, memo, s, expression, direction, 1, &out->for_kernel);
        if (rc != IPM_OK)
            pcap_freecode(&out->for_pcap);
    }
    return rc;
}

static void free_compiled(compiled_filter *c)
{
    pcap_freecode(&c->for_pcap);
    if (c->for_kernel.bf_insns)
        pcap_freecode(&c->for_kernel);
}

static int install(ipm_monitor *m, ipm_source *s, compiled_filter *c, int direction)
{
    if (s->ops->set_direction && s->ops->set_direction(s, direction) != 0)
        return ipm_fail(m, IPM_E_CAPTURE, "cannot set the direction on \"%s\": %s", s->name,
                        s->error);
    if (c->accepts_all && !(s->caps & IPM_SOURCE_NEEDS_FILTER) && !s->has_filter) {
        /* A file has no kernel to truncate for it, and libpcap would run
         * the accept-all program in user space for every packet (about 40
         * instructions each): leave the file unfiltered. */
        ipm_source_set_direction(s, direction);
        return IPM_OK;
    }
    s->has_filter = 1;
    if (s->ops->set_filter(s, &c->for_pcap) != 0)
        return ipm_fail(m, IPM_E_CAPTURE, "cannot install the filter on \"%s\": %s", s->name,
                        s->error);
    if (c->for_kernel.bf_insns) {
        /* Without it the kernel still copies the other direction into the
         * ring and libpcap drops it: slower, never wrong. */
        (void)s->ops->set_kernel_filter(s, &c->for_kernel);
    }
    ipm_source_set_direction(s, direction);
    return IPM_OK;
}

/* Compile for every source first; install only when all compiled, so a bad
 * expression leaves every source with its old filter. */
int ipm_filter_apply_all(ipm_monitor *m, const char *expression, int direction)
{
    return ipm_filter_apply_from(m, 0, expression, direction);
}

int ipm_filter_apply_from(ipm_monitor *m, int first, const char *expression, int direction)
{
    int count = m->source_count - first;
    if (count <= 0)
        return IPM_OK;
    compiled_filter *progs = calloc((size_t)count, sizeof *progs);
    compile_memo *memo = calloc(1, sizeof *memo);
    if (!memo || !progs) {
        free(progs);
        free(memo);
        return ipm_fail(m, IPM_E_NO_MEMORY, "out of memory while compiling the filter");
    }
    int compiled = 0, rc = IPM_OK;
    for (; compiled < count; compiled++) {
        rc = compile_for(m, memo, m->sources[first + compiled], expression, direction,
                         &progs[compiled]);
        if (rc != IPM_OK)
            break;
    }
    memo_free(memo);
    free(memo);
    /* Every source's program built and checked before any is installed. */
    int prepared = 0;
    for (; rc == IPM_OK && prepared < compiled; prepared++) {
        ipm_source *s = m->sources[first + prepared];
        if (s->ops->prepare_filter && s->ops->prepare_filter(s, &progs[prepared].for_pcap) != 0)
            rc = ipm_fail(m, IPM_E_CAPTURE, "cannot install the filter on \"%s\": %s", s->name, s->error);
    }
    for (int i = 0; rc != IPM_OK && i < prepared; i++) {
        ipm_source *s = m->sources[first + i];
        if (s->ops->prepare_filter)
            s->ops->prepare_filter(s, NULL);
    }
    for (int i = 0; i < compiled; i++) {
        if (rc == IPM_OK)
            rc = install(m, m->sources[first + i], &progs[i], direction);
        free_compiled(&progs[i]);
    }
    free(progs);
    return rc;
}
