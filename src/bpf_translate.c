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
 * "Match" puts the classic return value (the bytes the filter keeps) in R9
 * and jumps to the counting tail, emitted once after the program (a 32-bit
 * JA reaches it across any length). "No match" returns 0. Classic jumps
 * keep their targets, their offsets recomputed once every instruction's
 * position is known.
 * The tail (emit_tail) works out what the ring engine would have been given
 * for the packet (its length with a VLAN tag put back, its captured length)
 * and, with detail, classifies it exactly as events.c's on_count_detail
 * does with decode.h (Ethernet, up to two VLAN tags, IPv4, IPv6 extension
 * headers; only within the captured length), by the packet type for the
 * direction; then adds to entry 0 of the per-CPU array and returns 0. The
 * value is per CPU and a socket filter runs with softirqs (bottom halves)
 * off on its CPU, so the adds need no atomics.
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
#define KEY_OFF (-72)                  /* the map key, a u32: 0, or 1 + the cell */
/* The tail's own stack slots (u64 each), below the key. */
#define FAM_OFF (-80)   /* IPM_FAMILY_* of the packet */
#define PROTO_OFF (-88) /* IPM_PROTO_* */
#define BYTES_OFF (-96) /* the length the ring engine would report */
#define NEXT_OFF (-104) /* IPv6: the next header */
#define EXT_OFF (-112)  /* IPv6: the extension header's length */
#define REG_KEEP BPF_REG_9 /* at the tail: the classic return value */
#define TAIL_MAX_JUMPS 256
#define TAIL_LABELS 128

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
    int map_fd; /* the counter map the tail updates */
    size_t tail_target; /* the classic "index" fixups use for the tail (n) */
    /* The tail's own forward jumps to its labels (resolved by tail_label). */
    struct tail_fix {
        size_t at;
        int label;
    } tail_fixes[TAIL_MAX_JUMPS];
    int ntail_fixes;
    long label_pos[TAIL_LABELS]; /* -1: not placed */
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

/* "Match", keeping `keep` bytes: to the counting tail with R9 = keep. */
static void emit_match_k(emitter *e, uint32_t keep)
{
    emit(e, insn(BPF_ALU | BPF_MOV | BPF_K, REG_KEEP, 0, 0, (int32_t)keep));
    emit_jump(e, insn(BPF_JMP | BPF_JA, 0, 0, 0, 0), e->tail_target);
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
                emit_match_k(e, k);
            else
                emit_return_no_match(e);
            return 0;
        }
        if (BPF_RVAL(code) == BPF_A) {
            /* A == 0: "no match"; else to the tail keeping A bytes */
            emit(e, insn(BPF_JMP32 | BPF_JNE | BPF_K, REG_A, 0, 2, 0));
            emit_return_no_match(e);
            emit(e, insn(BPF_ALU | BPF_MOV | BPF_X, REG_KEEP, REG_A, 0, 0));
            emit_jump(e, insn(BPF_JMP | BPF_JA, 0, 0, 0, 0), e->tail_target);
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

/* ---- the counting tail ------------------------------------------------- */

/* The tail's labels: fixed ones, then a few per unrolled step. */
enum {
    L_CLAMP, L_PLAIN, L_TYPE, L_AFTER_TAGS, L_IPV4, L_IPV6, L_V6_END, L_CLASSIFY, L_COUNT,
    L_ROW, L_EXIT,
    L_TAG0 = 16,                /* + step (IPM_DECODE_MAX_VLANS of them) */
    L_V6 = 32,                  /* + 8 * step + V6_* */
};
enum { V6_EXT, V6_ROOM, V6_NOTFRAG, V6_LATER, V6_OTHER, V6_SETEXT, V6_STEP };
#define V6_STEPS 8 /* extension headers followed, as decode.h's walk_ipv6 */
_Static_assert(L_V6 + 8 * V6_STEPS <= TAIL_LABELS, "raise TAIL_LABELS");
_Static_assert(L_TAG0 + IPM_DECODE_MAX_VLANS <= L_V6, "move L_V6");

/* A jump inside the tail to `label`, placed later (tail_label). */
static void tail_jump(emitter *e, uint8_t code, int dst, int src, int32_t imm, int label)
{
    if (e->failed)
        return;
    if (e->ntail_fixes == TAIL_MAX_JUMPS) {
        e->failed = 1;
        return;
    }
    e->tail_fixes[e->ntail_fixes].at = e->count;
    e->tail_fixes[e->ntail_fixes].label = label;
    e->ntail_fixes++;
    emit(e, insn(code, (uint8_t)dst, (uint8_t)src, 0, imm));
}

static void tail_label(emitter *e, int label)
{
    e->label_pos[label] = (long)e->count;
}

static void stack_store_k(emitter *e, int off, int32_t value)
{
    emit(e, insn(BPF_ST | BPF_MEM | BPF_DW, BPF_REG_10, 0, (int16_t)off, value));
}

static void stack_store(emitter *e, int off, int reg)
{
    emit(e, insn(BPF_STX | BPF_MEM | BPF_DW, BPF_REG_10, (uint8_t)reg, (int16_t)off, 0));
}

static void stack_load(emitter *e, int reg, int off)
{
    emit(e, insn(BPF_LDX | BPF_MEM | BPF_DW, (uint8_t)reg, BPF_REG_10, (int16_t)off, 0));
}

static void mov_x(emitter *e, int dst, int src)
{
    emit(e, insn(BPF_ALU64 | BPF_MOV | BPF_X, (uint8_t)dst, (uint8_t)src, 0, 0));
}

static void alu_k(emitter *e, int op, int dst, int32_t k)
{
    emit(e, insn((uint8_t)(BPF_ALU64 | op | BPF_K), (uint8_t)dst, 0, 0, k));
}

static void alu_x(emitter *e, int op, int dst, int src)
{
    emit(e, insn((uint8_t)(BPF_ALU64 | op | BPF_X), (uint8_t)dst, (uint8_t)src, 0, 0));
}

/* R0 = the packet's byte (size BPF_B) or big-endian half (BPF_H) at
 * skb offset reg + k; R1-R5 are lost. Every use is inside the captured
 * length, checked first, so the legacy load never ends the program. */
static void load_ind(emitter *e, int size, int reg, int32_t k)
{
    emit(e, insn((uint8_t)(BPF_LD | BPF_IND | size), 0, (uint8_t)reg, 0, k));
}

/* Count the packet as it is (no deeper class) unless `bytes` more were
 * captured from R8 (the header's virtual offset) on. */
static void need_captured(emitter *e, int32_t bytes)
{
    mov_x(e, BPF_REG_1, BPF_REG_8);
    alu_k(e, BPF_ADD, BPF_REG_1, bytes);
    tail_jump(e, BPF_JMP | BPF_JGT | BPF_X, BPF_REG_1, BPF_REG_9, 0, L_COUNT);
}

/* R0 = the `size` field at `k` bytes into the header at R8 (a virtual
 * offset: R7 is what the re-inserted VLAN tag adds, taken off for the skb). */
static void load_header_field(emitter *e, int size, int32_t k)
{
    mov_x(e, BPF_REG_1, BPF_REG_8);
    alu_x(e, BPF_SUB, BPF_REG_1, BPF_REG_7);
    load_ind(e, size, BPF_REG_1, k);
}

/* R1 = R8 + R7 (IPv6: the extension header's skb offset) */
static void r1_header_at(emitter *e)
{
    mov_x(e, BPF_REG_1, BPF_REG_8);
    alu_x(e, BPF_ADD, BPF_REG_1, BPF_REG_7);
}

/* The IPv6 extension headers, as decode.h's walk_ipv6 with full = 0, on
 * R8 = the IPv6 header's skb offset, R9 = the captured length in skb
 * offsets, R7 = the header's offset from R8, next in NEXT_OFF. */
static void emit_ipv6_steps(emitter *e)
{
    static const int32_t extensions[] = {0, 43, 44, 60, 51};
    for (int i = 0; i < V6_STEPS; i++) {
        int L = L_V6 + 8 * i;
        stack_load(e, BPF_REG_0, NEXT_OFF);
        for (size_t x = 0; x < sizeof extensions / sizeof extensions[0]; x++)
            tail_jump(e, BPF_JMP | BPF_JEQ | BPF_K, BPF_REG_0, 0, extensions[x], L + V6_EXT);
        tail_jump(e, BPF_JMP | BPF_JA, 0, 0, 0, L_V6_END);
        tail_label(e, L + V6_EXT);
        /* cut by the capture inside the chain: the protocol is this header's */
        r1_header_at(e);
        alu_k(e, BPF_ADD, BPF_REG_1, 8);
        tail_jump(e, BPF_JMP | BPF_JLE | BPF_X, BPF_REG_1, BPF_REG_9, 0, L + V6_ROOM);
        tail_jump(e, BPF_JMP | BPF_JA, 0, 0, 0, L_CLASSIFY);
        tail_label(e, L + V6_ROOM);
        tail_jump(e, BPF_JMP | BPF_JNE | BPF_K, BPF_REG_0, 0, 44, L + V6_NOTFRAG);
        /* fragment header: a later fragment carries no transport header */
        r1_header_at(e);
        load_ind(e, BPF_H, BPF_REG_1, 2);
        tail_jump(e, BPF_JMP | BPF_JSET | BPF_K, BPF_REG_0, 0, 0xfff8, L + V6_LATER);
        stack_store_k(e, EXT_OFF, 8);
        tail_jump(e, BPF_JMP | BPF_JA, 0, 0, 0, L + V6_STEP);
        tail_label(e, L + V6_LATER);
        r1_header_at(e);
        load_ind(e, BPF_B, BPF_REG_1, 0);
        tail_jump(e, BPF_JMP | BPF_JA, 0, 0, 0, L_CLASSIFY);
        tail_label(e, L + V6_NOTFRAG);
        r1_header_at(e);
        load_ind(e, BPF_B, BPF_REG_1, 1);
        stack_load(e, BPF_REG_1, NEXT_OFF);
        tail_jump(e, BPF_JMP | BPF_JNE | BPF_K, BPF_REG_1, 0, 51, L + V6_OTHER);
        alu_k(e, BPF_ADD, BPF_REG_0, 2); /* AH: (len + 2) * 4 */
        alu_k(e, BPF_LSH, BPF_REG_0, 2);
        tail_jump(e, BPF_JMP | BPF_JA, 0, 0, 0, L + V6_SETEXT);
        tail_label(e, L + V6_OTHER);
        alu_k(e, BPF_ADD, BPF_REG_0, 1); /* the others: (len + 1) * 8 */
        alu_k(e, BPF_LSH, BPF_REG_0, 3);
        tail_label(e, L + V6_SETEXT);
        stack_store(e, EXT_OFF, BPF_REG_0);
        tail_label(e, L + V6_STEP);
        r1_header_at(e);
        load_ind(e, BPF_B, BPF_REG_1, 0);
        stack_store(e, NEXT_OFF, BPF_REG_0);
        stack_load(e, BPF_REG_0, EXT_OFF);
        alu_x(e, BPF_ADD, BPF_REG_7, BPF_REG_0);
    }
    tail_label(e, L_V6_END);
    r1_header_at(e);
    tail_jump(e, BPF_JMP | BPF_JGT | BPF_X, BPF_REG_1, BPF_REG_9, 0, L_COUNT);
    stack_load(e, BPF_REG_0, NEXT_OFF);
    tail_jump(e, BPF_JMP | BPF_JA, 0, 0, 0, L_CLASSIFY);
}

/* The family and transport protocol, as decode.h's ipm_decode_class on
 * the bytes the ring engine would have captured: R9 = that captured length
 * and R7 = 4 when the adapter took a VLAN tag off that the ring engine
 * would show at offset 12 (else 0). Offsets below are the ring engine's
 * ("virtual": R8); the skb's are 4 less past the tag. */
static void emit_classify(emitter *e)
{
    stack_store_k(e, FAM_OFF, IPM_FAMILY_OTHER);
    stack_store_k(e, PROTO_OFF, IPM_PROTO_OTHER);
    tail_jump(e, BPF_JMP | BPF_JLT | BPF_K, BPF_REG_9, 0, 14, L_COUNT);
    tail_jump(e, BPF_JMP | BPF_JEQ | BPF_K, BPF_REG_7, 0, 0, L_PLAIN);
    emit_skb_field(e, BPF_REG_0, offsetof(struct __sk_buff, vlan_proto));
    emit(e, insn(BPF_ALU | BPF_END | BPF_TO_BE, BPF_REG_0, 0, 0, 16));
    tail_jump(e, BPF_JMP | BPF_JA, 0, 0, 0, L_TYPE);
    tail_label(e, L_PLAIN);
    emit(e, insn(BPF_LD | BPF_ABS | BPF_H, 0, 0, 0, 12));
    tail_label(e, L_TYPE);
    emit(e, insn(BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_8, 0, 0, 14));
    tail_jump(e, BPF_JMP | BPF_JEQ | BPF_K, BPF_REG_0, 0, 0x0800, L_IPV4);
    tail_jump(e, BPF_JMP | BPF_JEQ | BPF_K, BPF_REG_0, 0, 0x86dd, L_IPV6);
    for (int i = 0; i < IPM_DECODE_MAX_VLANS; i++) {
        static const int32_t tpids[] = {0x8100, 0x88a8, 0x9100};
        for (int t = 0; t < 3; t++)
            tail_jump(e, BPF_JMP | BPF_JEQ | BPF_K, BPF_REG_0, 0, tpids[t], L_TAG0 + i);
        tail_jump(e, BPF_JMP | BPF_JA, 0, 0, 0, L_AFTER_TAGS);
        tail_label(e, L_TAG0 + i);
        need_captured(e, 4);
        load_header_field(e, BPF_H, 2);
        alu_k(e, BPF_ADD, BPF_REG_8, 4);
    }
    tail_label(e, L_AFTER_TAGS);
    tail_jump(e, BPF_JMP | BPF_JEQ | BPF_K, BPF_REG_0, 0, 0x0800, L_IPV4);
    tail_jump(e, BPF_JMP | BPF_JEQ | BPF_K, BPF_REG_0, 0, 0x86dd, L_IPV6);
    tail_jump(e, BPF_JMP | BPF_JA, 0, 0, 0, L_COUNT);

    /* IPv4: version 4 and a header of 5 to 15 words, all captured */
    tail_label(e, L_IPV4);
    stack_store_k(e, FAM_OFF, IPM_FAMILY_IPV4);
    need_captured(e, 20);
    load_header_field(e, BPF_B, 0);
    emit(e, insn(BPF_ALU | BPF_MOV | BPF_X, BPF_REG_2, BPF_REG_0, 0, 0));
    emit(e, insn(BPF_ALU | BPF_SUB | BPF_K, BPF_REG_2, 0, 0, 0x45));
    tail_jump(e, BPF_JMP32 | BPF_JGT | BPF_K, BPF_REG_2, 0, 0x0a, L_COUNT);
    alu_k(e, BPF_AND, BPF_REG_0, 15);
    alu_k(e, BPF_LSH, BPF_REG_0, 2);
    alu_x(e, BPF_ADD, BPF_REG_0, BPF_REG_8);
    tail_jump(e, BPF_JMP | BPF_JGT | BPF_X, BPF_REG_0, BPF_REG_9, 0, L_COUNT);
    load_header_field(e, BPF_B, 9);
    tail_jump(e, BPF_JMP | BPF_JA, 0, 0, 0, L_CLASSIFY);

    /* IPv6: from here on in skb offsets (R8, R9 less the tag) */
    tail_label(e, L_IPV6);
    stack_store_k(e, FAM_OFF, IPM_FAMILY_IPV6);
    need_captured(e, 40);
    alu_x(e, BPF_SUB, BPF_REG_8, BPF_REG_7);
    alu_x(e, BPF_SUB, BPF_REG_9, BPF_REG_7);
    load_ind(e, BPF_B, BPF_REG_8, 0);
    alu_k(e, BPF_RSH, BPF_REG_0, 4);
    tail_jump(e, BPF_JMP | BPF_JNE | BPF_K, BPF_REG_0, 0, 6, L_COUNT);
    load_ind(e, BPF_B, BPF_REG_8, 6);
    stack_store(e, NEXT_OFF, BPF_REG_0);
    emit(e, insn(BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_7, 0, 0, 40));
    emit_ipv6_steps(e);

    /* R0 = the IP protocol number -> IPM_PROTO_* */
    tail_label(e, L_CLASSIFY);
    static const struct { int32_t number, cls; } classes[] = {
        {6, IPM_PROTO_TCP}, {17, IPM_PROTO_UDP}, {1, IPM_PROTO_ICMP}, {58, IPM_PROTO_ICMP}};
    emit(e, insn(BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_1, 0, 0, IPM_PROTO_OTHER));
    for (size_t c = 0; c < sizeof classes / sizeof classes[0]; c++) {
        emit(e, insn(BPF_JMP | BPF_JNE | BPF_K, BPF_REG_0, 0, 1, classes[c].number));
        emit(e, insn(BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_1, 0, 0, classes[c].cls));
    }
    stack_store(e, PROTO_OFF, BPF_REG_1);
}

/* R1 = *(u64 *)(R7 + off) + value-of-reg-or-1; stored back. */
static void add_counter(emitter *e, int off, int reg)
{
    emit(e, insn(BPF_LDX | BPF_MEM | BPF_DW, BPF_REG_1, BPF_REG_7, (int16_t)off, 0));
    if (reg < 0)
        alu_k(e, BPF_ADD, BPF_REG_1, 1);
    else
        alu_x(e, BPF_ADD, BPF_REG_1, reg);
    emit(e, insn(BPF_STX | BPF_MEM | BPF_DW, BPF_REG_7, BPF_REG_1, (int16_t)off, 0));
}

/* Add the packet (one, and its length from BYTES_OFF) to the map slot whose
 * key is at KEY_OFF; on to L_EXIT if the map has no such key. The call
 * takes R1-R5, so the length is loaded after it. */
static void count_in_slot(emitter *e)
{
    emit(e, insn(BPF_LD | BPF_DW | BPF_IMM, BPF_REG_1, BPF_PSEUDO_MAP_FD, 0, e->map_fd));
    emit(e, insn(0, 0, 0, 0, 0));
    mov_x(e, BPF_REG_2, BPF_REG_10);
    alu_k(e, BPF_ADD, BPF_REG_2, KEY_OFF);
    emit(e, insn(BPF_JMP | BPF_CALL, 0, 0, 0, BPF_FUNC_map_lookup_elem));
    tail_jump(e, BPF_JMP | BPF_JEQ | BPF_K, BPF_REG_0, 0, 0, L_EXIT);
    mov_x(e, BPF_REG_7, BPF_REG_0);
    stack_load(e, BPF_REG_4, BYTES_OFF);
    add_counter(e, offsetof(ipm_bpf_slot, packets), -1);
    add_counter(e, offsetof(ipm_bpf_slot, bytes), BPF_REG_4);
}

/* The counting tail, entered with R9 = the bytes the classic program keeps. */
static void emit_tail(emitter *e, const ipm_bpf_tail *t)
{
    for (int i = 0; i < TAIL_LABELS; i++)
        e->label_pos[i] = -1;
    /* kept = min(skb->len, R9); R8 = the length reported; R7 = 4 when the
     * ring engine's libpcap would put a VLAN tag back (kept >= 12) */
    emit_skb_field(e, BPF_REG_1, offsetof(struct __sk_buff, len));
    emit(e, insn(BPF_JMP | BPF_JLE | BPF_X, REG_KEEP, BPF_REG_1, 1, 0));
    mov_x(e, REG_KEEP, BPF_REG_1);
    mov_x(e, BPF_REG_8, BPF_REG_1);
    emit(e, insn(BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_7, 0, 0, 0));
    emit_skb_field(e, BPF_REG_1, offsetof(struct __sk_buff, vlan_present));
    tail_jump(e, BPF_JMP | BPF_JEQ | BPF_K, BPF_REG_1, 0, 0, L_CLAMP);
    tail_jump(e, BPF_JMP | BPF_JLT | BPF_K, REG_KEEP, 0, 12, L_CLAMP);
    emit(e, insn(BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_7, 0, 0, 4));
    alu_k(e, BPF_ADD, BPF_REG_8, 4);
    alu_k(e, BPF_ADD, REG_KEEP, 4);
    tail_label(e, L_CLAMP);
    /* the captured length: at most the snapshot */
    emit(e, insn(BPF_JMP | BPF_JLE | BPF_K, REG_KEEP, 0, 1, (int32_t)t->snapshot));
    emit(e, insn(BPF_ALU64 | BPF_MOV | BPF_K, REG_KEEP, 0, 0, (int32_t)t->snapshot));
    stack_store(e, BYTES_OFF, BPF_REG_8);
    if (t->detail)
        emit_classify(e);

    tail_label(e, L_COUNT);
    emit(e, insn(BPF_ST | BPF_MEM | BPF_W, BPF_REG_10, 0, KEY_OFF, 0));
    count_in_slot(e);
    if (t->detail) {
        /* row = direction + 1 from the packet type: 0-3 arrived (2), 4 sent (3), else unknown (0) */
        emit_skb_field(e, BPF_REG_1, offsetof(struct __sk_buff, pkt_type));
        emit(e, insn(BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_2, 0, 0, 0));
        tail_jump(e, BPF_JMP | BPF_JGT | BPF_K, BPF_REG_1, 0, 4, L_ROW);
        emit(e, insn(BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_2, 0, 0, IPM_PACKET_DIRECTION_INCOMING + 1));
        tail_jump(e, BPF_JMP | BPF_JNE | BPF_K, BPF_REG_1, 0, 4, L_ROW);
        emit(e, insn(BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_2, 0, 0, IPM_PACKET_DIRECTION_OUTGOING + 1));
        tail_label(e, L_ROW);
        alu_k(e, BPF_MUL, BPF_REG_2, IPM_PROTO_COUNT);
        stack_load(e, BPF_REG_3, PROTO_OFF);
        alu_x(e, BPF_ADD, BPF_REG_2, BPF_REG_3);
        alu_k(e, BPF_MUL, BPF_REG_2, IPM_FAMILY_COUNT);
        stack_load(e, BPF_REG_3, FAM_OFF);
        alu_x(e, BPF_ADD, BPF_REG_2, BPF_REG_3);
        /* never beyond the cells (it cannot be: the map would refuse it) */
        tail_jump(e, BPF_JMP | BPF_JGT | BPF_K, BPF_REG_2, 0, IPM_BPF_CELLS - 1, L_EXIT);
        /* The cell's own map entry, key 1 + cell. A key, not an offset into
         * one value: without CAP_PERFMON the verifier masks pointer
         * arithmetic against Spectre v1 and refuses an offset whose bounds
         * differ between paths, as a class set outright on one path and
         * read from the packet on another does. */
        alu_k(e, BPF_ADD, BPF_REG_2, 1);
        emit(e, insn(BPF_STX | BPF_MEM | BPF_W, BPF_REG_10, BPF_REG_2, KEY_OFF, 0));
        count_in_slot(e);
    }
    tail_label(e, L_EXIT);
    emit_return_no_match(e);

    for (int f = 0; f < e->ntail_fixes && !e->failed; f++) {
        long to = e->label_pos[e->tail_fixes[f].label];
        long off = to - (long)e->tail_fixes[f].at - 1;
        if (to < 0 || off < 0 || off > INT16_MAX)
            e->failed = 1; /* a label never placed: a bug here, not the user's */
        else
            e->insns[e->tail_fixes[f].at].off = (int16_t)off;
    }
}

int ipm_bpf_translate(const ipm_cbpf_insn *prog, size_t n, int map_fd, const ipm_bpf_tail *tail,
                      uint64_t **out, size_t *out_count, char *err, size_t errlen)
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
    e.tail_target = n;
    /* eBPF index of each classic instruction, and of the tail (start[n]) */
    size_t *start = malloc((n + 1) * sizeof *start);
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
    if (rc == 0) {
        start[n] = e.count;
        emit_tail(&e, tail);
    }

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
    attr.value_size = sizeof(ipm_bpf_slot);
    attr.max_entries = IPM_BPF_KEYS;
    memcpy(attr.map_name, "ipm_counts", sizeof "ipm_counts");
    int fd = (int)sys_bpf(BPF_MAP_CREATE, &attr);
    if (fd < 0)
        set_errno_err(err, errlen, "creating the BPF counter map", errno);
    return fd;
}

int ipm_bpf_counting_filter_load(const ipm_cbpf_insn *prog, size_t n, int map_fd,
                                 const ipm_bpf_tail *tail, char *err, size_t errlen)
{
    uint64_t *insns;
    size_t count;
    if (ipm_bpf_translate(prog, n, map_fd, tail, &insns, &count, err, errlen) < 0)
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

/* Every key's per-CPU slots, IPM_BPF_KEYS x cpus key by key: one
 * BPF_MAP_LOOKUP_BATCH (one system call a read), or key by key where the
 * kernel has no batch lookup. 0, or -1 (errno set). */
static int read_slots(int map_fd, ipm_bpf_slot *slots, unsigned cpus)
{
    /* zeroed first: tools that do not know the batch call (valgrind) then
     * see defined memory; the kernel writes every key it returns */
    uint32_t keys[IPM_BPF_KEYS] = {0}, next = 0;
    union bpf_attr attr;
    memset(&attr, 0, sizeof attr);
    attr.batch.in_batch = 0; /* from the first key */
    attr.batch.out_batch = (uint64_t)(uintptr_t)&next;
    attr.batch.keys = (uint64_t)(uintptr_t)keys;
    attr.batch.values = (uint64_t)(uintptr_t)slots;
    attr.batch.count = IPM_BPF_KEYS;
    attr.batch.map_fd = (uint32_t)map_fd;
    long rc = sys_bpf(BPF_MAP_LOOKUP_BATCH, &attr);
    if ((rc == 0 || errno == ENOENT) && attr.batch.count == IPM_BPF_KEYS) {
        for (uint32_t k = 0; k < IPM_BPF_KEYS; k++)
            if (keys[k] != k) { /* an array hands its keys in order */
                errno = EIO;
                return -1;
            }
        return 0;
    }
    if (rc < 0 && errno != EINVAL && errno != ENOTSUP && errno != EOPNOTSUPP)
        return -1;
    for (uint32_t k = 0; k < IPM_BPF_KEYS; k++) {
        memset(&attr, 0, sizeof attr);
        attr.map_fd = (uint32_t)map_fd;
        attr.key = (uint64_t)(uintptr_t)&k;
        attr.value = (uint64_t)(uintptr_t)(slots + (size_t)k * cpus);
        if (sys_bpf(BPF_MAP_LOOKUP_ELEM, &attr) < 0)
            return -1;
    }
    return 0;
}

int ipm_bpf_counter_read(int map_fd, ipm_bpf_counts *out)
{
    unsigned cpus = possible_cpus();
    if (cpus == 0) {
        errno = ENOENT;
        return -1;
    }
    ipm_bpf_slot *slots = calloc((size_t)IPM_BPF_KEYS * cpus, sizeof *slots);
    if (!slots)
        return -1;
    int rc = read_slots(map_fd, slots, cpus);
    if (rc == 0) {
        memset(out, 0, sizeof *out);
        for (unsigned c = 0; c < cpus; c++) {
            out->packets += slots[c].packets;
            out->bytes += slots[c].bytes;
            for (int i = 0; i < IPM_BPF_CELLS; i++) {
                out->cell_packets[i] += slots[(size_t)(1 + i) * cpus + c].packets;
                out->cell_bytes[i] += slots[(size_t)(1 + i) * cpus + c].bytes;
            }
        }
    }
    int e = errno;
    free(slots);
    errno = e;
    return rc;
}

int ipm_bpf_counter_reset(int map_fd)
{
    unsigned cpus = possible_cpus();
    if (cpus == 0) {
        errno = ENOENT;
        return -1;
    }
    ipm_bpf_slot *zero = calloc(cpus, sizeof *zero);
    if (!zero)
        return -1;
    int rc = 0;
    for (uint32_t k = 0; k < IPM_BPF_KEYS && rc == 0; k++) {
        union bpf_attr attr;
        memset(&attr, 0, sizeof attr);
        attr.map_fd = (uint32_t)map_fd;
        attr.key = (uint64_t)(uintptr_t)&k;
        attr.value = (uint64_t)(uintptr_t)zero;
        attr.flags = BPF_ANY;
        rc = sys_bpf(BPF_MAP_UPDATE_ELEM, &attr) < 0 ? -1 : 0;
    }
    free(zero);
    return rc;
}

int ipm_bpf_test_run_timed(int prog_fd, const void *data, size_t len, uint32_t repeat, uint32_t *ns)
{
    union bpf_attr attr;
    memset(&attr, 0, sizeof attr);
    attr.test.prog_fd = (uint32_t)prog_fd;
    attr.test.data_in = (uint64_t)(uintptr_t)data;
    attr.test.data_size_in = (uint32_t)len;
    attr.test.repeat = repeat;
    if (sys_bpf(BPF_PROG_TEST_RUN, &attr) < 0)
        return -1;
    *ns = attr.test.duration;
    return 0;
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
