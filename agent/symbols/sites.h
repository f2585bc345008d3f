/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Probe-site discovery on x86-64 machine code (capstone). A uprobe costs the
 * target what the kernel must do at the probed instruction: a 5-byte nop is
 * rewritten into a call (cheapest), jcc/jmp/call rel/push/nops are emulated,
 * anything else is single-stepped out of line (about 40x dearer). Sites are
 * chosen to be the cheapest instruction with the same meaning.
 */
#ifndef KVSCOPE_SITES_H
#define KVSCOPE_SITES_H

#include <stddef.h>
#include <stdint.h>

enum site_cost {
	SITE_COST_NOP5,	      /* 0f 1f 44 00 00 */
	SITE_COST_EMULATED,   /* jcc, jmp rel, call rel, push reg, canonical nops */
	SITE_COST_SINGLESTEP, /* everything else */
};

struct probe_site {
	uint64_t vaddr;
	enum site_cost cost;
	char insn[64]; /* "jbe 0xa27bde" */
};

const char *site_cost__name(enum site_cost cost);

/* Cost class of the instruction at the start of `code`. */
enum site_cost sites__classify(const uint8_t *code, size_t len);

/*
 * Bytes of the function proper: `len` less trailing INT3 padding.
 */
size_t sites__trim_padding(const uint8_t *code, size_t len);

/*
 * Entry site of a function at `vaddr`: the cheapest instruction on the
 * straight-line path from the entry up to and including the first control
 * transfer, that comes before any write to a register in `live_regs` (a
 * bitmask of 1u << enum kvs_reg). The earliest wins among equal costs.
 * Returns 0, or -ENOENT when even the first instruction cannot be decoded.
 */
int sites__entry(const uint8_t *code, size_t len, uint64_t vaddr, uint32_t live_regs,
		 struct probe_site *out);

/* Every RET in the function. Returns the count (may exceed max; only max stored). */
int sites__rets(const uint8_t *code, size_t len, uint64_t vaddr, struct probe_site *out,
		size_t max);

/*
 * Return sites of direct calls (call rel32) to `callee` inside the function:
 * for each such call, the cheapest instruction from the one after the call up
 * to and including the next control transfer, before any write to a
 * register in `live_regs` (the results the probe will read). Returns the
 * count (may exceed max; only max stored).
 */
int sites__call_returns(const uint8_t *code, size_t len, uint64_t vaddr, uint64_t callee,
			uint32_t live_regs, struct probe_site *out, size_t max);

#define SITES_MAX_VALUES 4

/* Where a value is when a probe fires: a register, or an 8-byte stack slot. */
struct value_loc {
	int reg;	   /* enum kvs_reg holding it, or -1: the slot at SP + sp_offset */
	int32_t sp_offset; /* when reg is -1 */
};

struct call_site {
	struct probe_site site;
	uint64_t call_vaddr; /* the call it follows */
	struct value_loc values[SITES_MAX_VALUES];
};

/*
 * Return sites of direct calls to `callee` that follow the values a probe
 * reads out of each call. Value i is in register regs[i] (enum kvs_reg, a
 * result register) when the call returns; 64-bit moves copy it to other
 * registers and 8-byte stack slots, other writes drop it. For each call the
 * site is the cheapest instruction, earliest on ties, from the one after the
 * call through the next control transfer and before any branch target, at
 * which every value is still held somewhere and no register in `keep`
 * (1u << enum kvs_reg) has been written; out[i].values say where each is.
 * Returns the count (may exceed max; only max stored), -EINVAL on a bad reg.
 */
int sites__call_values(const uint8_t *code, size_t len, uint64_t vaddr, uint64_t callee,
		       const int *regs, int nregs, uint32_t keep, struct call_site *out,
		       size_t max);

struct stack_store {
	uint64_t vaddr; /* the instruction */
	int32_t disp;	/* it stores to [rsp + disp] */
};

/*
 * Every 8-byte store of register `reg` (enum kvs_reg) to a stack slot
 * [rsp + disp] in the function: how a Go function spills an argument.
 * Returns the count (may exceed max; only max stored).
 */
int sites__stack_stores(const uint8_t *code, size_t len, uint64_t vaddr, int reg,
			struct stack_store *out, size_t max);

#endif
