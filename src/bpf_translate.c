/*
 * bpf_translate.c - classic BPF (pcap_compile's output) to an eBPF socket
 * filter that counts what it matches in a per-CPU map and queues nothing;
 * the statistics engine "kernel" of issue 11. Linux only (sources.txt).
 *
 * Why raw bpf(2) and not libbpf: the program is built here instruction by
 * instruction, not compiled from C into an ELF object, so libbpf's main work
 * (ELF loading, relocations, BTF, skeletons) has nothing to do; the four
 * commands needed (BPF_MAP_CREATE, BPF_PROG_LOAD, BPF_MAP_LOOKUP_ELEM /
 * UPDATE_ELEM, BPF_PROG_TEST_RUN) are a union and a syscall each, and the
 * library gains no new runtime dependency (libbpf is not installed on every
 * host that has libpcap).
 *
 * The translation (one pass emitting, then the jumps resolved):
 *   A -> R7, X -> R8 (callee-saved: they survive the legacy loads and calls),
 *   R6 = the skb (the legacy LD_ABS/LD_IND instructions take it there),
 *   M[0..15] -> 16 words on the stack at fp-64, zeroed in the prologue,
 *   packet loads -> BPF_LD|BPF_ABS / BPF_IND (an out-of-range load ends the
 *     program with 0, as classic BPF's does: "no match"),
 *   SKF_AD_* ancillary loads -> __sk_buff fields (protocol and vlan_proto
 *     turned to host order as the kernel's own classic converter does) or
 *     helpers (cpu, random), ALU_XOR_X -> A ^= X,
 *   ALU -> 32-bit eBPF ALU (A and X stay zero-extended u32), division or
 *     modulo by an X of 0 -> "no match" (classic BPF returns 0),
 *   conditional jumps -> 32-bit eBPF jumps (JMP32: unsigned compares of the
 *     low words with the 32-bit K, not sign-extended) plus a JA for jf,
 *   `ret K` -> match when K != 0, `ret A` -> match when A != 0.
 * "Match" is the counting tail, emitted in place at each return: look up
 * entry 0 of the per-CPU array, add 1 to packets and skb->len to bytes,
 * return 0. "No match" returns 0. Classic jumps keep their targets, their
 * offsets recomputed once every instruction's position is known.
 * The value is per CPU and a socket filter runs with softirqs (bottom
 * halves) off on its CPU, so the adds need no atomics.
 */
#include "bpf_translate.h"

#include <errno.h>
#include <linux/bpf.h>
#include <linux/filter.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define REG_A BPF_REG_7
#define REG_X BPF_REG_8
#define REG_SKB BPF_REG_6
#define MEM_WORDS 16                  /* classic BPF_MEMWORDS */
#define MEM_OFF(i) (-64 + 4 * (int)(i)) /* M[i] relative to fp */
#define KEY_OFF (-72)                  /* the map key, a u32 0 */

typedef struct emitter {
    struct bpf_insn *insns;
    size_t count, cap;
    /* Jumps to resolve once every position is known. */
    struct fixup {
        size_t at;   /* eBPF index of the jump */
        size_t target; /* classic index */
    } *fixups;
    size_t nfix, capfix;
    int failed; /* out of memory */
    int map_fd; /* the counter map the match tails update */
} emitter;

static void emit(emitter *e, struct bpf_insn insn)
{
    if (e->failed)
        return;
    if (e->count == e->cap) {
        size_t cap = e->cap ? e->cap * 2 : 256;
        struct bpf_insn *p = realloc(e->insns, cap * sizeof *p);
        if (!p) {
            e->failed = 1;
            return;
        }
        e->insns = p;
        e->cap = cap;
    }
    e->insns[e->count++] = insn;
}

static struct bpf_insn insn(uint8_t code, uint8_t dst, uint8_t src, int16_t off, int32_t imm)
{
    struct bpf_insn i;
    memset(&i, 0, sizeof i);
    i.code = code;
    i.dst_reg = dst & 0xf;
    i.src_reg = src & 0xf;
    i.off = off;
    i.imm = imm;
    return i;
}

/* A jump to classic instruction `target`, its offset filled in later. */
static void emit_jump(emitter *e, struct bpf_insn j, size_t target)
{
    if (e->failed)
        return;
    if (e->nfix == e->capfix) {
        size_t cap = e->capfix ? e->capfix * 2 : 128;
        struct fixup *p = realloc(e->fixups, cap * sizeof *p);
        if (!p) {
            e->failed = 1;
            return;
        }
        e->fixups = p;
        e->capfix = cap;
    }
    e->fixups[e->nfix].at = e->count;
    e->fixups[e->nfix].target = target;
    e->nfix++;
    emit(e, j);
}

/* "No match": return 0. */
static void emit_return_no_match(emitter *e)
{
    emit(e, insn(BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, 0));
    emit(e, insn(BPF_JMP | BPF_EXIT, 0, 0, 0, 0));
}

/* End the program here with "no match" (classic BPF's return 0), yet keep
 * the classic instructions after this one reachable in the verifier's
 * control-flow check (it refuses unreachable code, and is content to prune
 * a branch it proves dead): a jump over the return that is never taken. */
static void emit_no_match_here(emitter *e)
{
    emit(e, insn(BPF_JMP | BPF_JNE | BPF_X, REG_A, REG_A, 2, 0));
    emit_return_no_match(e);
}

static void emit_skb_field(emitter *e, int dst, int off);

/* "Match": counters[0].packets += 1, .bytes += skb->len; return 0. Emitted
 * in place at each classic return (libpcap's programs have one or two), so
 * that no jump has to reach a shared tail across a long program. */
static void emit_count_and_return(emitter *e)
{
    emit(e, insn(BPF_ST | BPF_MEM | BPF_W, BPF_REG_10, 0, KEY_OFF, 0));
    emit(e, insn(BPF_LD | BPF_DW | BPF_IMM, BPF_REG_1, BPF_PSEUDO_MAP_FD, 0, e->map_fd));
    emit(e, insn(0, 0, 0, 0, 0));
    emit(e, insn(BPF_ALU64 | BPF_MOV | BPF_X, BPF_REG_2, BPF_REG_10, 0, 0));
    emit(e, insn(BPF_ALU64 | BPF_ADD | BPF_K, BPF_REG_2, 0, 0, KEY_OFF));
    emit(e, insn(BPF_JMP | BPF_CALL, 0, 0, 0, BPF_FUNC_map_lookup_elem));
    emit(e, insn(BPF_JMP | BPF_JEQ | BPF_K, BPF_REG_0, 0, 7, 0)); /* to the exit below */
    emit(e, insn(BPF_LDX | BPF_MEM | BPF_DW, BPF_REG_1, BPF_REG_0, offsetof(ipm_bpf_counts, packets), 0));
    emit(e, insn(BPF_ALU64 | BPF_ADD | BPF_K, BPF_REG_1, 0, 0, 1));
    emit(e, insn(BPF_STX | BPF_MEM | BPF_DW, BPF_REG_0, BPF_REG_1, offsetof(ipm_bpf_counts, packets), 0));
    emit_skb_field(e, BPF_REG_1, offsetof(struct __sk_buff, len));
    emit(e, insn(BPF_LDX | BPF_MEM | BPF_DW, BPF_REG_2, BPF_REG_0, offsetof(ipm_bpf_counts, bytes), 0));
    emit(e, insn(BPF_ALU64 | BPF_ADD | BPF_X, BPF_REG_2, BPF_REG_1, 0, 0));
    emit(e, insn(BPF_STX | BPF_MEM | BPF_DW, BPF_REG_0, BPF_REG_2, offsetof(ipm_bpf_counts, bytes), 0));
    emit_return_no_match(e);
}

/* A = the u32 field of struct __sk_buff at `off`. */
static void emit_skb_field(emitter *e, int dst, int off)
{
    emit(e, insn(BPF_LDX | BPF_MEM | BPF_W, (uint8_t)dst, REG_SKB, (int16_t)off, 0));
}

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* The ancillary load `k - SKF_AD_OFF` into A. 0, or -1 if not supported. */
static int emit_ancillary(emitter *e, uint32_t which)
{
    switch (which) {
    case SKF_AD_PROTOCOL: /* skb->protocol is big-endian; classic gives host order */
        emit_skb_field(e, REG_A, offsetof(struct __sk_buff, protocol));
        emit(e, insn(BPF_ALU | BPF_END | BPF_TO_BE, REG_A, 0, 0, 16));
        return 0;
    case SKF_AD_PKTTYPE:
        emit_skb_field(e, REG_A, offsetof(struct __sk_buff, pkt_type));
        return 0;
    case SKF_AD_IFINDEX:
        emit_skb_field(e, REG_A, offsetof(struct __sk_buff, ifindex));
        return 0;
    case SKF_AD_MARK:
        emit_skb_field(e, REG_A, offsetof(struct __sk_buff, mark));
        return 0;
    case SKF_AD_QUEUE:
        emit_skb_field(e, REG_A, offsetof(struct __sk_buff, queue_mapping));
        return 0;
    case SKF_AD_RXHASH:
        emit_skb_field(e, REG_A, offsetof(struct __sk_buff, hash));
        return 0;
    case SKF_AD_VLAN_TAG:
        emit_skb_field(e, REG_A, offsetof(struct __sk_buff, vlan_tci));
        return 0;
    case SKF_AD_VLAN_TAG_PRESENT:
        emit_skb_field(e, REG_A, offsetof(struct __sk_buff, vlan_present));
        return 0;
    case SKF_AD_VLAN_TPID:
        emit_skb_field(e, REG_A, offsetof(struct __sk_buff, vlan_proto));
        emit(e, insn(BPF_ALU | BPF_END | BPF_TO_BE, REG_A, 0, 0, 16));
        return 0;
    case SKF_AD_CPU:
        emit(e, insn(BPF_JMP | BPF_CALL, 0, 0, 0, BPF_FUNC_get_smp_processor_id));
        emit(e, insn(BPF_ALU | BPF_MOV | BPF_X, REG_A, BPF_REG_0, 0, 0));
        return 0;
    case SKF_AD_RANDOM:
        emit(e, insn(BPF_JMP | BPF_CALL, 0, 0, 0, BPF_FUNC_get_prandom_u32));
        emit(e, insn(BPF_ALU | BPF_MOV | BPF_X, REG_A, BPF_REG_0, 0, 0));
        return 0;
    case SKF_AD_ALU_XOR_X:
        emit(e, insn(BPF_ALU | BPF_XOR | BPF_X, REG_A, REG_X, 0, 0));
        return 0;
    default: /* NLATTR, NLATTR_NEST, HATYPE, PAY_OFFSET: no __sk_buff field */
        return -1;
    }
}

/* The 32-bit eBPF jump for a classic conditional jump's operation. */
static int jump_op(uint16_t code)
{
    switch (BPF_OP(code)) {
    case BPF_JEQ:
        return BPF_JEQ;
    case BPF_JGT:
        return BPF_JGT;
    case BPF_JGE:
        return BPF_JGE;
    case BPF_JSET:
        return BPF_JSET;
    default:
        return -1;
    }
}

/* Translate instruction i; 0, or -1 with err set. */
static int translate_one(emitter *e, const ipm_cbpf_insn *prog, size_t n, size_t i, char *err,
                         size_t errlen)
{
    const ipm_cbpf_insn *c = &prog[i];
    uint16_t code = c->code;
    uint32_t k = c->k;

    switch (BPF_CLASS(code)) {
    case BPF_LD:
        switch (BPF_MODE(code)) {
        case BPF_ABS:
            if (BPF_SIZE(code) != BPF_W && BPF_SIZE(code) != BPF_H && BPF_SIZE(code) != BPF_B)
                break;
            if (k >= (uint32_t)SKF_AD_OFF) {
                if (emit_ancillary(e, k - (uint32_t)SKF_AD_OFF) < 0) {
                    set_err(err, errlen, "instruction %zu: ancillary load SKF_AD_OFF+%u has no eBPF equivalent",
                            i, (unsigned)(k - (uint32_t)SKF_AD_OFF));
                    return -1;
                }
                return 0;
            }
            if (k > INT32_MAX && k < (uint32_t)SKF_LL_OFF) {
                /* A negative offset that is neither SKF_LL_OFF nor SKF_NET_OFF
                 * based: classic BPF finds no data there. */
                emit_no_match_here(e);
                return 0;
            }
            emit(e, insn(BPF_LD | BPF_ABS | BPF_SIZE(code), 0, 0, 0, (int32_t)k));
            emit(e, insn(BPF_ALU | BPF_MOV | BPF_X, REG_A, BPF_REG_0, 0, 0));
            return 0;
        case BPF_IND:
            if (BPF_SIZE(code) != BPF_W && BPF_SIZE(code) != BPF_H && BPF_SIZE(code) != BPF_B)
                break;
            emit(e, insn(BPF_LD | BPF_IND | BPF_SIZE(code), 0, REG_X, 0, (int32_t)k));
            emit(e, insn(BPF_ALU | BPF_MOV | BPF_X, REG_A, BPF_REG_0, 0, 0));
            return 0;
        case BPF_LEN:
            emit_skb_field(e, REG_A, offsetof(struct __sk_buff, len));
            return 0;
        case BPF_IMM:
            emit(e, insn(BPF_ALU | BPF_MOV | BPF_K, REG_A, 0, 0, (int32_t)k));
            return 0;
        case BPF_MEM:
            if (k >= MEM_WORDS)
                break;
            emit(e, insn(BPF_LDX | BPF_MEM | BPF_W, REG_A, BPF_REG_10, (int16_t)MEM_OFF(k), 0));
            return 0;
        }
        break;
    case BPF_LDX:
        switch (BPF_MODE(code)) {
        case BPF_IMM:
            emit(e, insn(BPF_ALU | BPF_MOV | BPF_K, REG_X, 0, 0, (int32_t)k));
            return 0;
        case BPF_MEM:
            if (k >= MEM_WORDS)
                break;
            emit(e, insn(BPF_LDX | BPF_MEM | BPF_W, REG_X, BPF_REG_10, (int16_t)MEM_OFF(k), 0));
            return 0;
        case BPF_LEN:
            emit_skb_field(e, REG_X, offsetof(struct __sk_buff, len));
            return 0;
        case BPF_MSH: /* X = 4 * (P[k] & 0xf) */
            if (k > INT32_MAX) {
                emit_no_match_here(e);
                return 0;
            }
            emit(e, insn(BPF_LD | BPF_ABS | BPF_B, 0, 0, 0, (int32_t)k));
            emit(e, insn(BPF_ALU | BPF_AND | BPF_K, BPF_REG_0, 0, 0, 0xf));
            emit(e, insn(BPF_ALU | BPF_LSH | BPF_K, BPF_REG_0, 0, 0, 2));
            emit(e, insn(BPF_ALU | BPF_MOV | BPF_X, REG_X, BPF_REG_0, 0, 0));
            return 0;
        }
        break;
    case BPF_ST:
    case BPF_STX:
        if (k >= MEM_WORDS)
            break;
        emit(e, insn(BPF_STX | BPF_MEM | BPF_W, BPF_REG_10, BPF_CLASS(code) == BPF_ST ? REG_A : REG_X,
                     (int16_t)MEM_OFF(k), 0));
        return 0;
    case BPF_ALU: {
        int op = BPF_OP(code);
        if (op == BPF_NEG) {
            emit(e, insn(BPF_ALU | BPF_NEG, REG_A, 0, 0, 0));
            return 0;
        }
        if (op != BPF_ADD && op != BPF_SUB && op != BPF_MUL && op != BPF_DIV && op != BPF_MOD &&
            op != BPF_AND && op != BPF_OR && op != BPF_XOR && op != BPF_LSH && op != BPF_RSH)
            break;
        if (BPF_SRC(code) == BPF_K) {
            if ((op == BPF_DIV || op == BPF_MOD) && k == 0) {
                /* Classic BPF returns 0 when it divides by zero. */
                emit_no_match_here(e);
                return 0;
            }
            if ((op == BPF_LSH || op == BPF_RSH) && k >= 32) {
                set_err(err, errlen, "instruction %zu: shift by %u (the kernel refuses shifts of 32 or more)",
                        i, (unsigned)k);
                return -1;
            }
            emit(e, insn((uint8_t)(BPF_ALU | op | BPF_K), REG_A, 0, 0, (int32_t)k));
        } else {
            if (op == BPF_DIV || op == BPF_MOD) { /* X == 0: return 0 */
                emit(e, insn(BPF_JMP32 | BPF_JNE | BPF_K, REG_X, 0, 2, 0));
                emit_return_no_match(e);
            }
            emit(e, insn((uint8_t)(BPF_ALU | op | BPF_X), REG_A, REG_X, 0, 0));
        }
        return 0;
    }
    case BPF_JMP: {
        if (BPF_OP(code) == BPF_JA) {
            if (k > INT32_MAX && (uint64_t)i + 1 >= (uint64_t)(-(int64_t)(int32_t)k)) {
                /* libpcap's `protochain` walks the header chain in a loop; the
                 * kernel's classic BPF refuses it as well (libpcap then
                 * filters in user space), and the eBPF verifier cannot bound
                 * a loop over packet contents. */
                set_err(err, errlen, "instruction %zu: a backward jump (the loop of libpcap's protochain), "
                        "which an eBPF socket filter cannot run", i);
                return -1;
            }
            if ((uint64_t)i + 1 + k >= n)
                break;
            emit_jump(e, insn(BPF_JMP | BPF_JA, 0, 0, 0, 0), i + 1 + k);
            return 0;
        }
        int op = jump_op(code);
        if (op < 0)
            break;
        size_t t = i + 1 + c->jt, f = i + 1 + c->jf;
        if (t >= n || f >= n)
            break;
        if (BPF_SRC(code) == BPF_K)
            emit_jump(e, insn((uint8_t)(BPF_JMP32 | op | BPF_K), REG_A, 0, 0, (int32_t)k), t);
        else
            emit_jump(e, insn((uint8_t)(BPF_JMP32 | op | BPF_X), REG_A, REG_X, 0, 0), t);
        if (c->jf != 0)
            emit_jump(e, insn(BPF_JMP | BPF_JA, 0, 0, 0, 0), f);
        return 0;
    }
    case BPF_RET:
        if (BPF_RVAL(code) == BPF_K) {
            if (k != 0)
                emit_count_and_return(e);
            else
                emit_return_no_match(e);
            return 0;
        }
        if (BPF_RVAL(code) == BPF_A) {
            size_t over = e->count; /* A == 0: over the count to "no match" */
            emit(e, insn(BPF_JMP32 | BPF_JEQ | BPF_K, REG_A, 0, 0, 0));
            emit_count_and_return(e);
            if (!e->failed)
                e->insns[over].off = (int16_t)(e->count - over - 1);
            emit_return_no_match(e);
            return 0;
        }
        break;
    case BPF_MISC:
        if (BPF_MISCOP(code) == BPF_TAX) {
            emit(e, insn(BPF_ALU | BPF_MOV | BPF_X, REG_X, REG_A, 0, 0));
            return 0;
        }
        if (BPF_MISCOP(code) == BPF_TXA) {
            emit(e, insn(BPF_ALU | BPF_MOV | BPF_X, REG_A, REG_X, 0, 0));
            return 0;
        }
        break;
    }
    set_err(err, errlen, "instruction %zu: cannot translate classic BPF code 0x%04x (k %u)", i,
            (unsigned)code, (unsigned)k);
    return -1;
}

int ipm_bpf_translate(const ipm_cbpf_insn *prog, size_t n, int map_fd, uint64_t **out,
                      size_t *out_count, char *err, size_t errlen)
{
    *out = NULL;
    *out_count = 0;
    /* No BPF_MAXINSNS (4096) limit: libpcap makes longer programs (a long
     * list of hosts), which the kernel's classic BPF refuses but an eBPF
     * program may hold (the verifier's limit is on what it explores). */
    if (!prog || n == 0 || n > 1000000) {
        set_err(err, errlen, "a classic BPF program of %zu instructions", n);
        return -1;
    }
    if (BPF_CLASS(prog[n - 1].code) != BPF_RET) {
        set_err(err, errlen, "the classic BPF program does not end with a return");
        return -1;
    }

    emitter e;
    memset(&e, 0, sizeof e);
    e.map_fd = map_fd;
    size_t *start = malloc(n * sizeof *start); /* eBPF index of each classic instruction */
    if (!start) {
        set_err(err, errlen, "out of memory");
        return -1;
    }

    /* Prologue: the skb in R6, A = X = 0, M[] zeroed (the verifier refuses
     * reads of stack it has not seen written). */
    emit(&e, insn(BPF_ALU64 | BPF_MOV | BPF_X, REG_SKB, BPF_REG_1, 0, 0));
    emit(&e, insn(BPF_ALU | BPF_MOV | BPF_K, REG_A, 0, 0, 0));
    emit(&e, insn(BPF_ALU | BPF_MOV | BPF_K, REG_X, 0, 0, 0));
    for (int w = 0; w < MEM_WORDS; w += 2)
        emit(&e, insn(BPF_ST | BPF_MEM | BPF_DW, BPF_REG_10, 0, (int16_t)MEM_OFF(w), 0));

    /* The verifier refuses unreachable instructions, which classic BPF
     * allows: translate only what a path from the first instruction reaches
     * (classic jumps go forward only, so one pass marks them). */
    int rc = 0;
    unsigned char *reached = calloc(n, 1);
    if (!reached) {
        free(start);
        set_err(err, errlen, "out of memory");
        return -1;
    }
    reached[0] = 1;
    for (size_t i = 0; i < n; i++) {
        if (!reached[i])
            continue;
        uint16_t code = prog[i].code;
        if (BPF_CLASS(code) == BPF_RET)
            continue;
        if (BPF_CLASS(code) == BPF_JMP && BPF_OP(code) == BPF_JA) {
            if ((uint64_t)i + 1 + prog[i].k < n)
                reached[i + 1 + prog[i].k] = 1;
        } else if (BPF_CLASS(code) == BPF_JMP) {
            if (i + 1 + prog[i].jt < n)
                reached[i + 1 + prog[i].jt] = 1;
            if (i + 1 + prog[i].jf < n)
                reached[i + 1 + prog[i].jf] = 1;
        } else if (i + 1 < n) {
            reached[i + 1] = 1;
        }
    }
    for (size_t i = 0; i < n && rc == 0; i++) {
        start[i] = e.count;
        if (reached[i])
            rc = translate_one(&e, prog, n, i, err, errlen);
    }
    free(reached);

    if (rc == 0 && e.failed) {
        set_err(err, errlen, "out of memory");
        rc = -1;
    }
    for (size_t f = 0; rc == 0 && f < e.nfix; f++) {
        struct bpf_insn *j = &e.insns[e.fixups[f].at];
        long off = (long)start[e.fixups[f].target] - (long)e.fixups[f].at - 1;
        if (off >= INT16_MIN && off <= INT16_MAX) {
            j->off = (int16_t)off;
        } else if (j->code == (BPF_JMP | BPF_JA)) {
            /* Past a 16-bit offset (a long program's classic JA): the
             * 32-bit JA ("gotol", kernel 6.4 on) takes it in imm. */
            j->code = BPF_JMP32 | BPF_JA;
            j->imm = (int32_t)off;
        } else {
            set_err(err, errlen, "the translated program is too long for an eBPF conditional jump");
            rc = -1;
            break;
        }
    }
    free(start);
    free(e.fixups);
    if (rc != 0) {
        free(e.insns);
        return -1;
    }
    _Static_assert(sizeof(struct bpf_insn) == sizeof(uint64_t), "an eBPF instruction is 8 bytes");
    *out = (uint64_t *)(void *)e.insns;
    *out_count = e.count;
    return 0;
}

static long sys_bpf(int cmd, union bpf_attr *attr)
{
    return syscall(SYS_bpf, cmd, attr, sizeof *attr);
}

/* Why the kernel refused, with the capability to grant for EPERM. */
static void set_errno_err(char *err, size_t errlen, const char *what, int e)
{
    if (e == EPERM || e == EACCES)
        set_err(err, errlen, "%s: %s (loading BPF programs needs CAP_BPF, or CAP_SYS_ADMIN on older kernels)",
                what, strerror(e));
    else
        set_err(err, errlen, "%s: %s", what, strerror(e));
}

int ipm_bpf_counter_map_create(char *err, size_t errlen)
{
    union bpf_attr attr;
    memset(&attr, 0, sizeof attr);
    attr.map_type = BPF_MAP_TYPE_PERCPU_ARRAY;
    attr.key_size = sizeof(uint32_t);
    attr.value_size = sizeof(ipm_bpf_counts);
    attr.max_entries = 1;
    memcpy(attr.map_name, "ipm_counts", sizeof "ipm_counts");
    int fd = (int)sys_bpf(BPF_MAP_CREATE, &attr);
    if (fd < 0)
        set_errno_err(err, errlen, "creating the BPF counter map", errno);
    return fd;
}

int ipm_bpf_counting_filter_load(const ipm_cbpf_insn *prog, size_t n, int map_fd, char *err,
                                 size_t errlen)
{
    uint64_t *insns;
    size_t count;
    if (ipm_bpf_translate(prog, n, map_fd, &insns, &count, err, errlen) < 0)
        return -1;

    static const char license[] = "GPL"; /* the helpers used are GPL-only or not: either works */
    size_t logsize = 64 * 1024;
    char *log = malloc(logsize);
    union bpf_attr attr;
    memset(&attr, 0, sizeof attr);
    attr.prog_type = BPF_PROG_TYPE_SOCKET_FILTER;
    attr.insns = (uint64_t)(uintptr_t)insns;
    attr.insn_cnt = (uint32_t)count;
    attr.license = (uint64_t)(uintptr_t)license;
    memcpy(attr.prog_name, "ipm_count", sizeof "ipm_count");
    if (log) {
        log[0] = '\0';
        attr.log_buf = (uint64_t)(uintptr_t)log;
        attr.log_size = (uint32_t)logsize;
        attr.log_level = 1;
    }
    int fd = (int)sys_bpf(BPF_PROG_LOAD, &attr);
    if (fd < 0 && log && errno == ENOSPC) {
        /* The log outgrew its buffer: load again without one for the errno. */
        attr.log_buf = 0;
        attr.log_size = 0;
        attr.log_level = 0;
        log[0] = '\0';
        fd = (int)sys_bpf(BPF_PROG_LOAD, &attr);
    }
    if (fd < 0) {
        int e = errno;
        /* The verifier's reason is its last non-empty line. */
        char *last = NULL;
        if (log) {
            size_t len = strnlen(log, logsize - 1);
            log[len] = '\0';
            while (len > 0 && (log[len - 1] == '\n' || log[len - 1] == ' '))
                log[--len] = '\0';
            for (int pass = 0; pass < 2; pass++) {
                last = strrchr(log, '\n');
                last = last ? last + 1 : (len ? log : NULL);
                /* "processed N insns ..." and "verification time ..." are statistics */
                if (last && pass == 0 && (strncmp(last, "processed ", 10) == 0 ||
                                          strncmp(last, "verification time", 17) == 0) && last > log) {
                    last[-1] = '\0';
                    continue;
                }
                break;
            }
        }
        if (last && e != EPERM)
            set_err(err, errlen, "the BPF verifier refused the translated filter: %s", last);
        else
            set_errno_err(err, errlen, "loading the BPF filter", e);
        errno = e;
    }
    free(log);
    free(insns);
    return fd;
}

/* The number of possible CPUs (the per-CPU map holds one value each), from
 * /sys/devices/system/cpu/possible ("0-3", "0,2-5"). 0 when unknown. */
static unsigned possible_cpus(void)
{
    static unsigned cached;
    if (cached)
        return cached;
    FILE *f = fopen("/sys/devices/system/cpu/possible", "re");
    if (!f)
        return 0;
    char buf[256];
    unsigned total = 0;
    if (fgets(buf, sizeof buf, f)) {
        char *p = buf;
        while (*p && *p != '\n') {
            char *end;
            unsigned long a = strtoul(p, &end, 10), b = a;
            if (end == p)
                break;
            p = end;
            if (*p == '-') {
                b = strtoul(p + 1, &end, 10);
                p = end;
            }
            if (b >= a)
                total = (unsigned)(b + 1 > total ? b + 1 : total);
            if (*p == ',')
                p++;
        }
    }
    fclose(f);
    cached = total;
    return total;
}

int ipm_bpf_counter_read(int map_fd, ipm_bpf_counts *out)
{
    unsigned cpus = possible_cpus();
    if (cpus == 0) {
        errno = ENOENT;
        return -1;
    }
    ipm_bpf_counts *values = calloc(cpus, sizeof *values);
    if (!values)
        return -1;
    uint32_t key = 0;
    union bpf_attr attr;
    memset(&attr, 0, sizeof attr);
    attr.map_fd = (uint32_t)map_fd;
    attr.key = (uint64_t)(uintptr_t)&key;
    attr.value = (uint64_t)(uintptr_t)values;
    int rc = (int)sys_bpf(BPF_MAP_LOOKUP_ELEM, &attr);
    if (rc == 0) {
        out->packets = out->bytes = 0;
        for (unsigned c = 0; c < cpus; c++) {
            out->packets += values[c].packets;
            out->bytes += values[c].bytes;
        }
    }
    free(values);
    return rc < 0 ? -1 : 0;
}

int ipm_bpf_counter_reset(int map_fd)
{
    unsigned cpus = possible_cpus();
    if (cpus == 0) {
        errno = ENOENT;
        return -1;
    }
    ipm_bpf_counts *values = calloc(cpus, sizeof *values);
    if (!values)
        return -1;
    uint32_t key = 0;
    union bpf_attr attr;
    memset(&attr, 0, sizeof attr);
    attr.map_fd = (uint32_t)map_fd;
    attr.key = (uint64_t)(uintptr_t)&key;
    attr.value = (uint64_t)(uintptr_t)values;
    attr.flags = BPF_ANY;
    int rc = (int)sys_bpf(BPF_MAP_UPDATE_ELEM, &attr);
    free(values);
    return rc < 0 ? -1 : 0;
}

int ipm_bpf_test_run(int prog_fd, const void *data, size_t len, uint32_t *retval)
{
    union bpf_attr attr;
    memset(&attr, 0, sizeof attr);
    attr.test.prog_fd = (uint32_t)prog_fd;
    attr.test.data_in = (uint64_t)(uintptr_t)data;
    attr.test.data_size_in = (uint32_t)len;
    attr.test.repeat = 1;
    if (sys_bpf(BPF_PROG_TEST_RUN, &attr) < 0)
        return -1;
    *retval = attr.test.retval;
    return 0;
}
