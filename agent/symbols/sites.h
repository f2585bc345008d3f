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

#endif
