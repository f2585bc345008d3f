// SPDX-License-Identifier: Apache-2.0
/*
 * x86-64 decoding shared by the site finders: capstone set up with details,
 * the cost class of an instruction under a uprobe, which registers it
 * writes, and where direct branches land.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <linux/types.h>

#include "kvscope.h"
#include "symbols/disasm.h"

#define NOP_MAX 8

/* The kernel emulates exactly these byte strings (x86_nops[len]) as nops. */
static const uint8_t canonical_nops[NOP_MAX + 1][NOP_MAX] = {
    [1] = {0x90},
    [2] = {0x66, 0x90},
    [3] = {0x0f, 0x1f, 0x00},
    [4] = {0x0f, 0x1f, 0x40, 0x00},
    [5] = {0x0f, 0x1f, 0x44, 0x00, 0x00},
    [6] = {0x66, 0x0f, 0x1f, 0x44, 0x00, 0x00},
    [7] = {0x0f, 0x1f, 0x80, 0x00, 0x00, 0x00, 0x00},
    [8] = {0x0f, 0x1f, 0x84, 0x00, 0x00, 0x00, 0x00, 0x00},
};

int disasm__open(struct disasm *d)
{
	d->insn = NULL;
	if (cs_open(CS_ARCH_X86, CS_MODE_64, &d->handle) != CS_ERR_OK)
		return -ENOMEM;
	/* Details give operand access flags and groups, needed for liveness. */
	cs_option(d->handle, CS_OPT_DETAIL, CS_OPT_ON);
	d->insn = cs_malloc(d->handle);
	if (!d->insn)
		goto close_handle;
	return 0;
close_handle:
	cs_close(&d->handle);
	return -ENOMEM;
}

void disasm__close(struct disasm *d)
{
	if (!d || !d->insn)
		return;
	cs_free(d->insn, 1);
	d->insn = NULL;
	cs_close(&d->handle);
}

/* Decode the instruction at `off` into d->insn; false when it cannot. */
bool disasm__at(struct disasm *d, const uint8_t *code, size_t len, uint64_t vaddr, size_t off)
{
	if (!code || off >= len)
		return false;
	const uint8_t *p = code + off;
	size_t left = len - off;
	uint64_t addr = vaddr + off;
	return cs_disasm_iter(d->handle, &p, &left, &addr, d->insn);
}

static bool is_legacy_prefix(uint8_t b)
{
	static const uint8_t prefixes[] = {0xf0, 0xf2, 0xf3, 0x2e, 0x36, 0x3e,
					   0x26, 0x64, 0x65, 0x66, 0x67};
	return memchr(prefixes, b, sizeof(prefixes)) != NULL;
}

static bool is_emulated_branch(const uint8_t *op, size_t n)
{
	if (n >= 1 && (op[0] == 0xeb || op[0] == 0xe9 || op[0] == 0xe8))
		return true;
	if (n >= 1 && op[0] >= 0x70 && op[0] <= 0x7f)
		return true;
	return n >= 2 && op[0] == 0x0f && op[1] >= 0x80 && op[1] <= 0x8f;
}

/* Cost class of one decoded instruction, from its raw bytes. */
static enum site_cost classify_bytes(const uint8_t *b, size_t size)
{
	size_t i = 0;
	bool has_66 = false;
	uint8_t rex = 0;

	if (size >= 1 && size <= NOP_MAX && !memcmp(b, canonical_nops[size], size))
		return size == 5 ? SITE_COST_NOP5 : SITE_COST_EMULATED;
	/* Only a lone 50+r or 41 50+r is emulated as a push. */
	if ((size == 1 && b[0] >= 0x50 && b[0] <= 0x57) ||
	    (size == 2 && b[0] == 0x41 && b[1] >= 0x50 && b[1] <= 0x57))
		return SITE_COST_EMULATED;
	for (; i < size && is_legacy_prefix(b[i]); i++)
		has_66 |= b[i] == 0x66;
	if (i < size && (b[i] & 0xf0) == 0x40)
		rex = b[i++];
	if (i >= size)
		return SITE_COST_SINGLESTEP;
	/* 90 with REX.B is xchg with r8, which the kernel would wrongly skip. */
	if (b[i] == 0x90)
		return (rex & 0x01) ? SITE_COST_SINGLESTEP : SITE_COST_EMULATED;
	/* The kernel refuses operand-size-prefixed branches: never prefer them. */
	if (!has_66 && is_emulated_branch(b + i, size - i))
		return SITE_COST_EMULATED;
	return SITE_COST_SINGLESTEP;
}

enum site_cost classify_insn(const cs_insn *insn)
{
	return classify_bytes(insn->bytes, insn->size);
}
static const unsigned int gpr_aliases[KVS_REG_COUNT][5] = {
    [KVS_REG_RAX] = {X86_REG_RAX, X86_REG_EAX, X86_REG_AX, X86_REG_AL, X86_REG_AH},
    [KVS_REG_RBX] = {X86_REG_RBX, X86_REG_EBX, X86_REG_BX, X86_REG_BL, X86_REG_BH},
    [KVS_REG_RCX] = {X86_REG_RCX, X86_REG_ECX, X86_REG_CX, X86_REG_CL, X86_REG_CH},
    [KVS_REG_RDX] = {X86_REG_RDX, X86_REG_EDX, X86_REG_DX, X86_REG_DL, X86_REG_DH},
    [KVS_REG_RSI] = {X86_REG_RSI, X86_REG_ESI, X86_REG_SI, X86_REG_SIL},
    [KVS_REG_RDI] = {X86_REG_RDI, X86_REG_EDI, X86_REG_DI, X86_REG_DIL},
    [KVS_REG_RBP] = {X86_REG_RBP, X86_REG_EBP, X86_REG_BP, X86_REG_BPL},
    [KVS_REG_RSP] = {X86_REG_RSP, X86_REG_ESP, X86_REG_SP, X86_REG_SPL},
    [KVS_REG_R8] = {X86_REG_R8, X86_REG_R8D, X86_REG_R8W, X86_REG_R8B},
    [KVS_REG_R9] = {X86_REG_R9, X86_REG_R9D, X86_REG_R9W, X86_REG_R9B},
    [KVS_REG_R10] = {X86_REG_R10, X86_REG_R10D, X86_REG_R10W, X86_REG_R10B},
    [KVS_REG_R11] = {X86_REG_R11, X86_REG_R11D, X86_REG_R11W, X86_REG_R11B},
    [KVS_REG_R12] = {X86_REG_R12, X86_REG_R12D, X86_REG_R12W, X86_REG_R12B},
    [KVS_REG_R13] = {X86_REG_R13, X86_REG_R13D, X86_REG_R13W, X86_REG_R13B},
    [KVS_REG_R14] = {X86_REG_R14, X86_REG_R14D, X86_REG_R14W, X86_REG_R14B},
    [KVS_REG_R15] = {X86_REG_R15, X86_REG_R15D, X86_REG_R15W, X86_REG_R15B},
};

/* Bit (1u << enum kvs_reg) of the register a capstone register is part of. */
uint32_t reg__bit(unsigned int reg)
{
	if (reg == X86_REG_INVALID)
		return 0;
	for (unsigned int r = 0; r < KVS_REG_COUNT; r++)
		for (unsigned int i = 0; i < 5; i++)
			if (gpr_aliases[r][i] == reg)
				return 1u << r;
	return 0;
}

/* Implicit writes capstone 4 leaves out of regs_write. */
static uint32_t insn__missing_writes(const cs_insn *insn)
{
	switch (insn->id) {
	case X86_INS_CMPXCHG: /* loads the old value into rax on failure */
		return 1u << KVS_REG_RAX;
	case X86_INS_SYSCALL:
		return 1u << KVS_REG_RAX | 1u << KVS_REG_RCX | 1u << KVS_REG_R11;
	}
	return 0;
}

/*
 * Registers the instruction writes. Capstone 4 lists only implicit writes in
 * regs_write; explicit ones are the register operands flagged CS_AC_WRITE.
 * An operand with no access flags is taken as written, to stay safe.
 */
uint32_t insn__writes(const cs_insn *insn)
{
	const cs_detail *det = insn->detail;
	uint32_t mask = insn__missing_writes(insn);

	if (!det)
		return ~0u;
	for (uint8_t i = 0; i < det->regs_write_count; i++)
		mask |= reg__bit(det->regs_write[i]);
	for (uint8_t i = 0; i < det->x86.op_count; i++) {
		const cs_x86_op *op = &det->x86.operands[i];
		if (op->type == X86_OP_REG && (!op->access || (op->access & CS_AC_WRITE)))
			mask |= reg__bit(op->reg);
	}
	return mask;
}

bool insn__in_group(const cs_insn *insn, uint8_t group)
{
	const cs_detail *det = insn->detail;

	for (uint8_t i = 0; det && i < det->groups_count; i++)
		if (det->groups[i] == group)
			return true;
	return false;
}

/* Anything after which straight-line execution may not continue. */
bool insn__is_transfer(const cs_insn *insn)
{
	return insn__in_group(insn, CS_GRP_JUMP) || insn__in_group(insn, CS_GRP_CALL) ||
	       insn__in_group(insn, CS_GRP_RET) || insn__in_group(insn, CS_GRP_IRET) ||
	       insn__in_group(insn, CS_GRP_INT) || insn->id == X86_INS_UD2 ||
	       insn->id == X86_INS_HLT;
}

/* The target of a direct (relative) jmp, jcc or call, if it has one. */
bool insn__direct_target(const cs_insn *insn, uint64_t *target)
{
	const cs_detail *det = insn->detail;

	if (!det || !insn__in_group(insn, CS_GRP_BRANCH_RELATIVE) || det->x86.op_count != 1 ||
	    det->x86.operands[0].type != X86_OP_IMM)
		return false;
	*target = (uint64_t)det->x86.operands[0].imm;
	return true;
}
static void bitmap__set(uint8_t *bits, size_t i)
{
	bits[i / 8] |= (uint8_t)(1u << (i % 8));
}

bool bitmap__test(const uint8_t *bits, size_t i)
{
	return bits && (bits[i / 8] >> (i % 8)) & 1u;
}

/*
 * Offsets inside the function that a direct branch lands on. A site past
 * such an offset would also fire on paths that skip the window's start.
 */
uint8_t *targets__collect(struct disasm *d, const uint8_t *code, size_t len, uint64_t vaddr)
{
	uint8_t *bits = calloc(len / 8 + 1, 1);
	size_t off = 0;
	uint64_t target;

	if (!bits)
		return NULL;
	while (off < len) {
		if (!disasm__at(d, code, len, vaddr, off)) {
			off++;
			continue;
		}
		if (insn__direct_target(d->insn, &target) && target >= vaddr &&
		    target - vaddr < len)
			bitmap__set(bits, target - vaddr);
		off += d->insn->size;
	}
	return bits;
}

void site__fill(struct probe_site *out, const cs_insn *insn, enum site_cost cost)
{
	out->vaddr = insn->address;
	out->cost = cost;
	if (insn->op_str[0])
		snprintf(out->insn, sizeof(out->insn), "%.24s %.38s", insn->mnemonic, insn->op_str);
	else
		snprintf(out->insn, sizeof(out->insn), "%.63s", insn->mnemonic);
}
