// SPDX-License-Identifier: Apache-2.0
/*
 * Probe-site discovery: decode a function with capstone and pick, for each
 * place an event happens, the instruction whose uprobe costs the target least
 * while still observing the same registers at the same moment.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <capstone/capstone.h>
#include <linux/types.h>

#include "kvscope.h"
#include "symbols/disasm.h"
#include "symbols/sites.h"

#define INT3 0xcc

/* An instruction window: the site is chosen among [start, end of window). */
struct window {
	size_t start;
	uint32_t live_regs;
	const uint8_t *targets; /* bitmap of offsets some direct branch jumps to */
};

const char *site_cost__name(enum site_cost cost)
{
	switch (cost) {
	case SITE_COST_NOP5:
		return "nop5";
	case SITE_COST_EMULATED:
		return "emulated";
	case SITE_COST_SINGLESTEP:
		return "single-step";
	}
	return "unknown";
}
enum site_cost sites__classify(const uint8_t *code, size_t len)
{
	struct disasm d;
	enum site_cost cost = SITE_COST_SINGLESTEP;

	if (!code || !len || disasm__open(&d))
		return SITE_COST_SINGLESTEP;
	if (disasm__at(&d, code, len, 0, 0))
		cost = classify_insn(d.insn);
	disasm__close(&d);
	return cost;
}
size_t sites__trim_padding(const uint8_t *code, size_t len)
{
	struct disasm d;
	size_t off = 0, end = 0;

	if (!code)
		return 0;
	if (disasm__open(&d)) {
		/* Without a decoder, fall back to trimming raw 0xCC bytes. */
		while (len > 0 && code[len - 1] == INT3)
			len--;
		return len;
	}
	/* Decode so that an operand byte of 0xCC (jmp -0x34) is not mistaken for padding. */
	while (off < len) {
		size_t size = 1;
		if (disasm__at(&d, code, len, 0, off))
			size = d.insn->size;
		if (size > 1 || code[off] != INT3)
			end = off + size;
		off += size;
	}
	disasm__close(&d);
	return end;
}

/*
 * The cheapest instruction of the window, earliest on ties. The window runs
 * from w->start through the first control transfer, through the first write
 * to a live register (the probe sees registers before the probed instruction
 * runs, so that instruction still qualifies), and stops before any branch
 * target. Returns 0, or -ENOENT when the first instruction cannot be decoded.
 */
static int window__best(struct disasm *d, const uint8_t *code, size_t len, uint64_t vaddr,
			const struct window *w, struct probe_site *out)
{
	size_t off = w->start;
	bool found = false;

	while (disasm__at(d, code, len, vaddr, off)) {
		if (off != w->start && bitmap__test(w->targets, off))
			break;
		enum site_cost cost = classify_insn(d->insn);
		if (!found || cost < out->cost) {
			site__fill(out, d->insn, cost);
			found = true;
		}
		if (insn__is_transfer(d->insn) || (insn__writes(d->insn) & w->live_regs))
			break;
		off += d->insn->size;
	}
	return found ? 0 : -ENOENT;
}

int sites__entry(const uint8_t *code, size_t len, uint64_t vaddr, uint32_t live_regs,
		 struct probe_site *out)
{
	struct disasm d;
	struct window w = {.start = 0, .live_regs = live_regs};
	int err;

	if (!code || !len || !out)
		return -ENOENT;
	err = disasm__open(&d);
	if (err)
		return err;
	w.targets = targets__collect(&d, code, len, vaddr);
	if (!w.targets) {
		err = -ENOMEM;
		goto close_disasm;
	}
	err = window__best(&d, code, len, vaddr, &w, out);
	free((void *)w.targets);
close_disasm:
	disasm__close(&d);
	return err;
}

int sites__rets(const uint8_t *code, size_t len, uint64_t vaddr, struct probe_site *out, size_t max)
{
	struct disasm d;
	size_t off = 0;
	int count = 0;
	int err;

	if (!code || !len)
		return 0;
	err = disasm__open(&d);
	if (err)
		return err;
	while (off < len) {
		if (!disasm__at(&d, code, len, vaddr, off)) {
			off++; /* not code: resynchronise on the next byte */
			continue;
		}
		if (insn__in_group(d.insn, CS_GRP_RET)) {
			if (out && (size_t)count < max)
				site__fill(&out[count], d.insn, classify_insn(d.insn));
			count++;
		}
		off += d.insn->size;
	}
	disasm__close(&d);
	return count;
}

static bool insn__calls(const cs_insn *insn, uint64_t callee)
{
	uint64_t target;

	return insn->id == X86_INS_CALL && insn__direct_target(insn, &target) && target == callee;
}

/* Walk the function, filling one return site per direct call to `callee`. */
static int call_returns__scan(struct disasm *d, const uint8_t *code, size_t len, uint64_t vaddr,
			      uint64_t callee, struct window *w, struct probe_site *out, size_t max)
{
	struct probe_site site;
	size_t off = 0;
	int count = 0;

	while (off < len) {
		if (!disasm__at(d, code, len, vaddr, off)) {
			off++;
			continue;
		}
		size_t next = off + d->insn->size;
		if (insn__calls(d->insn, callee)) {
			w->start = next;
			/* window__best reuses the decoder: resume from `next` after it. */
			if (window__best(d, code, len, vaddr, w, &site) == 0) {
				if (out && (size_t)count < max)
					out[count] = site;
				count++;
			}
		}
		off = next;
	}
	return count;
}

int sites__call_returns(const uint8_t *code, size_t len, uint64_t vaddr, uint64_t callee,
			uint32_t live_regs, struct probe_site *out, size_t max)
{
	struct disasm d;
	struct window w = {.live_regs = live_regs};
	int ret;

	if (!code || !len)
		return 0;
	ret = disasm__open(&d);
	if (ret)
		return ret;
	w.targets = targets__collect(&d, code, len, vaddr);
	if (!w.targets) {
		ret = -ENOMEM;
		goto close_disasm;
	}
	ret = call_returns__scan(&d, code, len, vaddr, callee, &w, out, max);
	free((void *)w.targets);
close_disasm:
	disasm__close(&d);
	return ret;
}