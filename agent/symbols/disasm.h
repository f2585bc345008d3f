/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Private to the site finders (sites.c, flow.c): capstone decoding of one
 * function's code and what the finders need to know of each instruction.
 */
#ifndef KVSCOPE_DISASM_H
#define KVSCOPE_DISASM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <capstone/capstone.h>

#include "symbols/sites.h"

struct disasm {
	csh handle;
	cs_insn *insn;
};

int disasm__open(struct disasm *d);
void disasm__close(struct disasm *d);
/* Decode the instruction at `off` into d->insn; false when it cannot. */
bool disasm__at(struct disasm *d, const uint8_t *code, size_t len, uint64_t vaddr, size_t off);

enum site_cost classify_insn(const cs_insn *insn);
/* Bit (1u << enum kvs_reg) of the general-purpose register a capstone register is part of. */
uint32_t reg__bit(unsigned int reg);
/* Registers (1u << enum kvs_reg) the instruction writes. */
uint32_t insn__writes(const cs_insn *insn);
bool insn__in_group(const cs_insn *insn, uint8_t group);
/* Anything after which straight-line execution may not continue. */
bool insn__is_transfer(const cs_insn *insn);
/* The target of a direct (relative) jmp, jcc or call, if it has one. */
bool insn__direct_target(const cs_insn *insn, uint64_t *target);

/* Bitmap of the offsets inside the function that a direct branch lands on. */
uint8_t *targets__collect(struct disasm *d, const uint8_t *code, size_t len, uint64_t vaddr);
bool bitmap__test(const uint8_t *bits, size_t i);

void site__fill(struct probe_site *out, const cs_insn *insn, enum site_cost cost);

#endif
