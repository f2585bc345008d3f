// SPDX-License-Identifier: Apache-2.0
/*
 * Where a call's results go. Right after a call the results are in registers,
 * but the instructions there are moves, which a uprobe single-steps; the
 * compiler usually copies the results to stack slots or other registers
 * before it reaches something the kernel emulates (a nop, a jcc, the next
 * call). Following those copies lets a probe sit on the cheap instruction and
 * still read the results, from wherever they are by then.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <linux/types.h>

#include "kvscope.h"
#include "symbols/disasm.h"
#include "symbols/sites.h"

#define MAX_SLOTS 8

/* Every place one value is held at the current instruction. */
struct holder {
	uint32_t regs; /* 1u << enum kvs_reg */
	int32_t slots[MAX_SLOTS];
	int nslots;
};

struct flow {
	struct holder vals[SITES_MAX_VALUES];
	int nvals;
	uint32_t keep; /* registers that must not be written before the site */
	/* registers holding rsp + frame[r] (lea r, [rsp + d]): stores through them hit the frame */
	uint32_t frame_ptrs;
	int64_t frame[KVS_REG_COUNT];
};

static const cs_x86_op *op(const cs_insn *insn, int i)
{
	return &insn->detail->x86.operands[i];
}

static bool is_reg64(const cs_x86_op *o)
{
	return o->type == X86_OP_REG && o->size == 8 && reg__bit(o->reg);
}

/* An 8-byte stack slot [rsp + disp], no index. */
static bool is_slot(const cs_x86_op *o)
{
	return o->type == X86_OP_MEM && o->size == 8 && o->mem.base == X86_REG_RSP &&
	       o->mem.index == X86_REG_INVALID && o->mem.segment == X86_REG_INVALID;
}

static bool holder__has_slot(const struct holder *h, int32_t disp)
{
	for (int i = 0; i < h->nslots; i++)
		if (h->slots[i] == disp)
			return true;
	return false;
}

static void holder__add_slot(struct holder *h, int32_t disp)
{
	if (!holder__has_slot(h, disp) && h->nslots < MAX_SLOTS)
		h->slots[h->nslots++] = disp;
}

/* Forgets the slots that [disp, disp + size) overlaps. */
static void holder__drop_range(struct holder *h, int64_t disp, int64_t size)
{
	int kept = 0;

	for (int i = 0; i < h->nslots; i++)
		if (h->slots[i] + 8 <= disp || h->slots[i] >= disp + size)
			h->slots[kept++] = h->slots[i];
	h->nslots = kept;
}

static bool flow__all_held(const struct flow *f)
{
	for (int i = 0; i < f->nvals; i++)
		if (!f->vals[i].regs && !f->vals[i].nslots)
			return false;
	return true;
}

/* mov r64, r64 / mov [rsp+d], r64 / mov r64, [rsp+d]: copies. */
static bool flow__copy(struct flow *f, const cs_insn *insn)
{
	const cs_x86_op *dst, *src;

	if (insn->id != X86_INS_MOV || insn->detail->x86.op_count != 2)
		return false;
	dst = op(insn, 0);
	src = op(insn, 1);
	for (int i = 0; i < f->nvals; i++) {
		struct holder *h = &f->vals[i];

		if (is_reg64(dst) && is_reg64(src)) {
			bool held = h->regs & reg__bit(src->reg);
			h->regs =
			    held ? h->regs | reg__bit(dst->reg) : h->regs & ~reg__bit(dst->reg);
		} else if (is_slot(dst) && is_reg64(src)) {
			holder__drop_range(h, dst->mem.disp, 8);
			if (h->regs & reg__bit(src->reg))
				holder__add_slot(h, (int32_t)dst->mem.disp);
		} else if (is_reg64(dst) && is_slot(src)) {
			bool held = holder__has_slot(h, (int32_t)src->mem.disp);
			h->regs =
			    held ? h->regs | reg__bit(dst->reg) : h->regs & ~reg__bit(dst->reg);
		} else {
			return false;
		}
	}
	return true;
}

/* The frame offset a memory operand's base points at, when it points into the frame. */
static bool frame_base(const struct flow *f, const cs_x86_op *o, int64_t *at)
{
	uint32_t bit = reg__bit(o->mem.base);

	*at = 0;

	if (o->mem.base == X86_REG_RSP) {
		*at = o->mem.disp;
		return true;
	}
	if (!(bit & f->frame_ptrs))
		return false;
	for (int r = 0; r < KVS_REG_COUNT; r++)
		if (bit == 1u << r)
			*at = f->frame[r] + o->mem.disp;
	return true;
}

/* lea r64, [rsp + d]: r points into the frame until it is written again. */
static void flow__track_frame_ptr(struct flow *f, const cs_insn *insn, uint32_t writes)
{
	f->frame_ptrs &= ~writes;
	if (insn->id != X86_INS_LEA || insn->detail->x86.op_count != 2 || !is_reg64(op(insn, 0)))
		return;
	const cs_x86_op *m = op(insn, 1);
	if (m->mem.base != X86_REG_RSP || m->mem.index != X86_REG_INVALID)
		return;
	for (int r = 0; r < KVS_REG_COUNT; r++) {
		if (reg__bit(op(insn, 0)->reg) == 1u << r) {
			f->frame[r] = m->mem.disp;
			f->frame_ptrs |= 1u << r;
		}
	}
}

/*
 * Whether the memory operand k may be written. Capstone 4 marks some stores
 * (movups [m], xmm) as reads, so a first operand counts as written unless
 * the instruction only compares or tests it.
 */
static bool may_write(const cs_insn *insn, int k)
{
	switch (insn->id) {
	case X86_INS_CMP:
	case X86_INS_TEST:
	case X86_INS_BT:
	case X86_INS_PUSH:
	case X86_INS_NOP:
	case X86_INS_UCOMISD:
	case X86_INS_UCOMISS:
	case X86_INS_COMISD:
	case X86_INS_COMISS:
		return op(insn, k)->access & CS_AC_WRITE;
	default:
		return (op(insn, k)->access & CS_AC_WRITE) || k == 0;
	}
}

/*
 * Anything else: written registers lose what they held, and so do stack
 * slots a memory operand writes through rsp or a register pointing into the
 * frame (see may_write for which operands are written; a write
 * through an index register, whose reach is unknown, drops every slot). A
 * change of rsp moves every slot: all are lost.
 */
static void flow__clobber(struct flow *f, const cs_insn *insn)
{
	uint32_t writes = insn__writes(insn);

	for (int i = 0; i < f->nvals; i++) {
		struct holder *h = &f->vals[i];

		h->regs &= ~writes;
		if (writes & (1u << KVS_REG_RSP))
			h->nslots = 0;
		for (uint8_t k = 0; k < insn->detail->x86.op_count; k++) {
			const cs_x86_op *o = op(insn, k);
			int64_t at = 0;

			if (o->type != X86_OP_MEM || !may_write(insn, k) || !frame_base(f, o, &at))
				continue;
			if (o->mem.index != X86_REG_INVALID)
				h->nslots = 0;
			else
				holder__drop_range(h, at, o->size ? o->size : 64);
		}
	}
	flow__track_frame_ptr(f, insn, writes);
}

/* Where value i can be read at this instruction: its first register, else a slot. */
static void flow__locate(const struct flow *f, int i, const int *regs, struct value_loc *out)
{
	const struct holder *h = &f->vals[i];

	out->reg = -1;
	out->sp_offset = 0;
	if (h->regs & (1u << regs[i])) {
		out->reg = regs[i];
		return;
	}
	for (int r = 0; r < KVS_REG_COUNT; r++) {
		if (h->regs & (1u << r)) {
			out->reg = r;
			return;
		}
	}
	out->sp_offset = h->slots[0];
}

static void flow__start(struct flow *f, const int *regs, int nregs, uint32_t keep)
{
	memset(f, 0, sizeof(*f));
	f->nvals = nregs;
	f->keep = keep;
	for (int i = 0; i < nregs; i++)
		f->vals[i].regs = 1u << regs[i];
}

struct walk {
	const uint8_t *code;
	size_t len;
	uint64_t vaddr;
	const uint8_t *targets;
	const int *regs;
	int nregs;
	uint32_t keep;
};

/* The best site after the call ending at `start`; 0, or -ENOENT when there is none. */
static int flow__best(struct disasm *d, const struct walk *w, size_t start, struct call_site *out)
{
	struct flow f;
	bool found = false;

	flow__start(&f, w->regs, w->nregs, w->keep);
	for (size_t off = start; disasm__at(d, w->code, w->len, w->vaddr, off);
	     off += d->insn->size) {
		if (off != start && bitmap__test(w->targets, off))
			break;
		enum site_cost cost = classify_insn(d->insn);
		if (!found || cost < out->site.cost) {
			site__fill(&out->site, d->insn, cost);
			for (int i = 0; i < f.nvals; i++)
				flow__locate(&f, i, w->regs, &out->values[i]);
			found = true;
		}
		if (insn__is_transfer(d->insn) || (insn__writes(d->insn) & f.keep))
			break;
		if (flow__copy(&f, d->insn))
			f.frame_ptrs &= ~insn__writes(d->insn);
		else
			flow__clobber(&f, d->insn);
		if (!flow__all_held(&f))
			break;
	}
	return found ? 0 : -ENOENT;
}

static bool calls(const cs_insn *insn, uint64_t callee)
{
	uint64_t target;

	return insn->id == X86_INS_CALL && insn__direct_target(insn, &target) && target == callee;
}

static int scan_calls(struct disasm *d, const struct walk *w, uint64_t callee,
		      struct call_site *out, size_t max)
{
	struct call_site site;
	size_t off = 0;
	int count = 0;

	while (off < w->len) {
		if (!disasm__at(d, w->code, w->len, w->vaddr, off)) {
			off++;
			continue;
		}
		size_t next = off + d->insn->size;
		uint64_t call = d->insn->address;
		if (calls(d->insn, callee)) {
			memset(&site, 0, sizeof(site));
			/* flow__best reuses the decoder: resume from `next` after it. */
			if (flow__best(d, w, next, &site) == 0) {
				site.call_vaddr = call;
				if (out && (size_t)count < max)
					out[count] = site;
				count++;
			}
		}
		off = next;
	}
	return count;
}

int sites__call_values(const uint8_t *code, size_t len, uint64_t vaddr, uint64_t callee,
		       const int *regs, int nregs, uint32_t keep, struct call_site *out, size_t max)
{
	struct walk w = {code, len, vaddr, NULL, regs, nregs, keep};
	struct disasm d;
	int ret;

	if (!code || !len || nregs < 0 || nregs > SITES_MAX_VALUES)
		return 0;
	for (int i = 0; i < nregs; i++)
		if (regs[i] < 0 || regs[i] >= KVS_REG_COUNT)
			return -EINVAL;
	ret = disasm__open(&d);
	if (ret)
		return ret;
	w.targets = targets__collect(&d, code, len, vaddr);
	if (!w.targets) {
		ret = -ENOMEM;
		goto close_disasm;
	}
	ret = scan_calls(&d, &w, callee, out, max);
	free((void *)w.targets);
close_disasm:
	disasm__close(&d);
	return ret;
}

int sites__stack_stores(const uint8_t *code, size_t len, uint64_t vaddr, int reg,
			struct stack_store *out, size_t max)
{
	struct disasm d;
	size_t off = 0;
	int count = 0;

	if (!code || !len || reg < 0 || reg >= KVS_REG_COUNT || disasm__open(&d))
		return 0;
	while (off < len) {
		if (!disasm__at(&d, code, len, vaddr, off)) {
			off++;
			continue;
		}
		const cs_insn *insn = d.insn;
		if (insn->id == X86_INS_MOV && insn->detail->x86.op_count == 2 &&
		    is_slot(op(insn, 0)) && is_reg64(op(insn, 1)) &&
		    reg__bit(op(insn, 1)->reg) == 1u << reg) {
			if (out && (size_t)count < max)
				out[count] = (struct stack_store){insn->address,
								  (int32_t)op(insn, 0)->mem.disp};
			count++;
		}
		off += insn->size;
	}
	disasm__close(&d);
	return count;
}
