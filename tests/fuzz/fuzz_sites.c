// SPDX-License-Identifier: Apache-2.0
/*
 * Probe-site discovery over arbitrary machine code. Input: 2 bytes of live
 * register mask, 1 byte choosing which direct call's target is the callee,
 * then the function's bytes.
 */
#include <linux/types.h>
#include <stdint.h>
#include <string.h>

#include "kvscope.h"
#include "fuzz_util.h"
#include "symbols/sites.h"

#define FUNC_VADDR 0x401000ull
#define MAX_SITES  8

/* Target of the pick-th `call rel32` byte pattern, or a made-up address. */
static uint64_t pick_callee(const uint8_t *code, size_t len, unsigned pick)
{
	uint64_t last = FUNC_VADDR + len + 0x1000;
	unsigned seen = 0;

	for (size_t i = 0; i + 5 <= len; i++) {
		int32_t rel;

		if (code[i] != 0xe8)
			continue;
		memcpy(&rel, code + i + 1, sizeof(rel));
		last = FUNC_VADDR + i + 5 + (uint64_t)(int64_t)rel;
		if (seen++ == pick)
			break;
	}
	return last;
}

static void check_sites(const struct probe_site *s, int n, size_t len)
{
	for (int i = 0; i < n && i < MAX_SITES; i++) {
		if (s[i].vaddr < FUNC_VADDR || s[i].vaddr >= FUNC_VADDR + len ||
		    !memchr(s[i].insn, '\0', sizeof(s[i].insn)))
			__builtin_trap(); /* a site lies inside the function */
		site_cost__name(s[i].cost);
	}
}

/* Results followed out of a call: sites inside the function, values in a register or slot. */
static void check_call_values(const uint8_t *code, size_t len, uint64_t callee, uint32_t live)
{
	const int regs[] = {KVS_REG_RAX, KVS_REG_RBX};
	struct call_site cs[MAX_SITES];
	int n = sites__call_values(code, len, FUNC_VADDR, callee, regs, 2, live, cs, MAX_SITES);

	if (n < 0 || (size_t)n > len)
		__builtin_trap();
	for (int i = 0; i < n && i < MAX_SITES; i++) {
		check_sites(&cs[i].site, 1, len);
		if (cs[i].site.vaddr <= cs[i].call_vaddr)
			__builtin_trap(); /* a return site follows its call */
		for (int k = 0; k < 2; k++)
			if (cs[i].values[k].reg < -1 || cs[i].values[k].reg >= KVS_REG_COUNT)
				__builtin_trap();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint32_t live = (uint32_t)fuzz_take_le(&data, &size, 2) & ((1u << KVS_REG_COUNT) - 1);
	unsigned pick = (unsigned)fuzz_take_le(&data, &size, 1);
	uint8_t *code = fuzz_copy(data, size);
	struct probe_site sites[MAX_SITES], entry;
	size_t len;
	int n;

	sites__classify(code, size);
	len = sites__trim_padding(code, size);
	if (len > size)
		__builtin_trap();
	if (sites__entry(code, len, FUNC_VADDR, live, &entry) == 0)
		check_sites(&entry, 1, len);
	n = sites__rets(code, len, FUNC_VADDR, sites, MAX_SITES);
	check_sites(sites, n, len);
	n = sites__call_returns(code, len, FUNC_VADDR, pick_callee(code, len, pick), live, sites,
				MAX_SITES);
	check_sites(sites, n, len);
	check_call_values(code, len, pick_callee(code, len, pick), live);
	n = sites__stack_stores(code, len, FUNC_VADDR, (int)(pick % KVS_REG_COUNT), NULL, 0);
	if (n < 0 || (size_t)n > len)
		__builtin_trap();
	free(code);
	return 0;
}
