// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <linux/types.h>

#include "kvscope.h"
#include "symbols/sites.h"
#include "symbols/symtab.h"

#define BIT(r) (1u << (r))

struct insn_case {
	const char *what;
	uint8_t bytes[16];
	size_t len;
	enum site_cost cost;
};

static void test_cost_names(void **state)
{
	(void)state;
	assert_string_equal(site_cost__name(SITE_COST_NOP5), "nop5");
	assert_string_equal(site_cost__name(SITE_COST_EMULATED), "emulated");
	assert_string_equal(site_cost__name(SITE_COST_SINGLESTEP), "single-step");
}

static const struct insn_case emulated_cases[] = {
    {"nop1", {0x90}, 1, SITE_COST_EMULATED},
    {"nop2", {0x66, 0x90}, 2, SITE_COST_EMULATED},
    {"nop3", {0x0f, 0x1f, 0x00}, 3, SITE_COST_EMULATED},
    {"nop4", {0x0f, 0x1f, 0x40, 0x00}, 4, SITE_COST_EMULATED},
    {"nop5", {0x0f, 0x1f, 0x44, 0x00, 0x00}, 5, SITE_COST_NOP5},
    {"nop6", {0x66, 0x0f, 0x1f, 0x44, 0x00, 0x00}, 6, SITE_COST_EMULATED},
    {"nop7", {0x0f, 0x1f, 0x80, 0x00, 0x00, 0x00, 0x00}, 7, SITE_COST_EMULATED},
    {"nop8", {0x0f, 0x1f, 0x84, 0x00, 0x00, 0x00, 0x00, 0x00}, 8, SITE_COST_EMULATED},
    {"pause", {0xf3, 0x90}, 2, SITE_COST_EMULATED},
    {"66 66 90", {0x66, 0x66, 0x90}, 3, SITE_COST_EMULATED},
    {"jmp rel8", {0xeb, 0x10}, 2, SITE_COST_EMULATED},
    {"jmp rel32", {0xe9, 0x00, 0x01, 0x00, 0x00}, 5, SITE_COST_EMULATED},
    {"call rel32", {0xe8, 0x10, 0x00, 0x00, 0x00}, 5, SITE_COST_EMULATED},
    {"jo rel8", {0x70, 0x05}, 2, SITE_COST_EMULATED},
    {"je rel8", {0x74, 0x05}, 2, SITE_COST_EMULATED},
    {"jg rel8", {0x7f, 0xf0}, 2, SITE_COST_EMULATED},
    {"jo rel32", {0x0f, 0x80, 0x10, 0x00, 0x00, 0x00}, 6, SITE_COST_EMULATED},
    {"jbe rel32", {0x0f, 0x86, 0x94, 0x01, 0x00, 0x00}, 6, SITE_COST_EMULATED},
    {"jg rel32", {0x0f, 0x8f, 0x10, 0x00, 0x00, 0x00}, 6, SITE_COST_EMULATED},
    {"je with hint prefix", {0x3e, 0x74, 0x05}, 3, SITE_COST_EMULATED},
    {"push rax", {0x50}, 1, SITE_COST_EMULATED},
    {"push rdi", {0x57}, 1, SITE_COST_EMULATED},
    {"push r8", {0x41, 0x50}, 2, SITE_COST_EMULATED},
    {"push r15", {0x41, 0x57}, 2, SITE_COST_EMULATED},
};

static const struct insn_case singlestep_cases[] = {
    {"mov rcx,[rdx+8]", {0x48, 0x8b, 0x4a, 0x08}, 4, SITE_COST_SINGLESTEP},
    {"mov eax,ebx", {0x89, 0xd8}, 2, SITE_COST_SINGLESTEP},
    {"cmp rsp,[r14+0x10]", {0x49, 0x3b, 0x66, 0x10}, 4, SITE_COST_SINGLESTEP},
    {"ret", {0xc3}, 1, SITE_COST_SINGLESTEP},
    {"ret imm16", {0xc2, 0x08, 0x00}, 3, SITE_COST_SINGLESTEP},
    {"lea r12,[rsp-0xf8]",
     {0x4c, 0x8d, 0xa4, 0x24, 0x08, 0xff, 0xff, 0xff},
     8,
     SITE_COST_SINGLESTEP},
    {"call rax", {0xff, 0xd0}, 2, SITE_COST_SINGLESTEP},
    {"call [rax+8]", {0xff, 0x50, 0x08}, 3, SITE_COST_SINGLESTEP},
    {"jmp rax", {0xff, 0xe0}, 2, SITE_COST_SINGLESTEP},
    {"xchg [rcx+0x20],rax", {0x48, 0x87, 0x41, 0x20}, 4, SITE_COST_SINGLESTEP},
    {"int3", {0xcc}, 1, SITE_COST_SINGLESTEP},
    {"push rax with rex.w", {0x48, 0x50}, 2, SITE_COST_SINGLESTEP},
    {"push [rax]", {0xff, 0x30}, 2, SITE_COST_SINGLESTEP},
    {"xchg eax,r8d", {0x41, 0x90}, 2, SITE_COST_SINGLESTEP},
    {"call with 66 prefix", {0x66, 0xe8, 0x10, 0x00}, 4, SITE_COST_SINGLESTEP},
    {"non-canonical nop4", {0x0f, 0x1f, 0x04, 0x00}, 4, SITE_COST_SINGLESTEP},
    {"nop10",
     {0x66, 0x2e, 0x0f, 0x1f, 0x84, 0x00, 0x00, 0x00, 0x00, 0x00},
     10,
     SITE_COST_SINGLESTEP},
    {"truncated jmp rel32", {0xe9, 0x00}, 2, SITE_COST_SINGLESTEP},
    {"invalid in 64-bit mode", {0x06}, 1, SITE_COST_SINGLESTEP},
};

static void check_cases(const struct insn_case *cases, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		enum site_cost got = sites__classify(cases[i].bytes, cases[i].len);
		if (got != cases[i].cost)
			fail_msg("%s: got %s, want %s", cases[i].what, site_cost__name(got),
				 site_cost__name(cases[i].cost));
	}
}

static void test_classify_emulated(void **state)
{
	(void)state;
	check_cases(emulated_cases, sizeof(emulated_cases) / sizeof(emulated_cases[0]));
}

static void test_classify_singlestep(void **state)
{
	(void)state;
	check_cases(singlestep_cases, sizeof(singlestep_cases) / sizeof(singlestep_cases[0]));
	assert_int_equal(sites__classify(NULL, 0), SITE_COST_SINGLESTEP);
}

static void test_trim_padding(void **state)
{
	static const uint8_t closure[] = {0x48, 0x8b, 0x4a, 0x08, 0x48, 0x87,
					  0x41, 0x20, 0xc3, 0xcc, 0xcc, 0xcc};
	/* jmp -0x34: its operand is 0xCC but not padding. */
	static const uint8_t jmp_back[] = {0x90, 0xeb, 0xcc, 0xcc, 0xcc};
	static const uint8_t all_pad[] = {0xcc, 0xcc, 0xcc};
	(void)state;
	assert_int_equal(sites__trim_padding(closure, sizeof(closure)), 9);
	assert_int_equal(sites__trim_padding(closure, 9), 9);
	assert_int_equal(sites__trim_padding(jmp_back, sizeof(jmp_back)), 3);
	assert_int_equal(sites__trim_padding(all_pad, sizeof(all_pad)), 0);
	assert_int_equal(sites__trim_padding(closure, 0), 0);
	assert_int_equal(sites__trim_padding(NULL, 0), 0);
}

static void test_entry_go_prologue(void **state)
{
	/* cmp rsp,[r14+0x10]; jbe; sub rsp,0x50 */
	static const uint8_t code[] = {0x49, 0x3b, 0x66, 0x10, 0x0f, 0x86, 0x94,
				       0x01, 0x00, 0x00, 0x48, 0x83, 0xec, 0x50};
	struct probe_site site;
	(void)state;
	assert_int_equal(sites__entry(code, sizeof(code), 0xa27a40,
				      BIT(KVS_REG_RAX) | BIT(KVS_REG_RBX) | BIT(KVS_REG_R14),
				      &site),
			 0);
	assert_int_equal(site.vaddr, 0xa27a44);
	assert_int_equal(site.cost, SITE_COST_EMULATED);
	assert_string_equal(site.insn, "jbe 0xa27bde");
}

static void test_entry_lea_prologue(void **state)
{
	/* lea r12,[rsp-0xf8]; cmp r12,[r14+0x10]; jbe: r12 is not live here */
	static const uint8_t code[] = {0x4c, 0x8d, 0xa4, 0x24, 0x08, 0xff, 0xff, 0xff, 0x4d,
				       0x3b, 0x66, 0x10, 0x0f, 0x86, 0xbb, 0x00, 0x00, 0x00};
	struct probe_site site;
	(void)state;
	assert_int_equal(sites__entry(code, sizeof(code), 0xabf0a0, BIT(KVS_REG_RAX), &site), 0);
	assert_int_equal(site.vaddr, 0xabf0ac);
	assert_int_equal(site.cost, SITE_COST_EMULATED);
	/* With r12 live the lea is the last candidate. */
	assert_int_equal(sites__entry(code, sizeof(code), 0xabf0a0, BIT(KVS_REG_R12), &site), 0);
	assert_int_equal(site.vaddr, 0xabf0a0);
	assert_int_equal(site.cost, SITE_COST_SINGLESTEP);
}

static void test_entry_closure(void **state)
{
	/* mov rcx,[rdx+8]; xchg [rcx+0x20],rax; ret */
	static const uint8_t code[] = {0x48, 0x8b, 0x4a, 0x08, 0x48, 0x87, 0x41, 0x20, 0xc3};
	struct probe_site site;
	(void)state;
	assert_int_equal(sites__entry(code, sizeof(code), 0xc19200, BIT(KVS_REG_RAX), &site), 0);
	assert_int_equal(site.vaddr, 0xc19200);
	assert_int_equal(site.cost, SITE_COST_SINGLESTEP);
	assert_string_equal(site.insn, "mov rcx, qword ptr [rdx + 8]");
}

static void test_entry_live_stop(void **state)
{
	/* mov eax,1; nop5; ret */
	static const uint8_t mov_eax[] = {0xb8, 0x01, 0x00, 0x00, 0x00, 0x0f,
					  0x1f, 0x44, 0x00, 0x00, 0xc3};
	/* mov al,1; nop5; ret: a sub-register write kills the whole register */
	static const uint8_t mov_al[] = {0xb0, 0x01, 0x0f, 0x1f, 0x44, 0x00, 0x00, 0xc3};
	/* mov r8d,1; nop5; ret */
	static const uint8_t mov_r8d[] = {0x41, 0xb8, 0x01, 0x00, 0x00, 0x00,
					  0x0f, 0x1f, 0x44, 0x00, 0x00, 0xc3};
	/* lock cmpxchg [rbx],ecx (writes eax implicitly); nop5; ret */
	static const uint8_t cmpxchg[] = {0xf0, 0x0f, 0xb1, 0x0b, 0x0f,
					  0x1f, 0x44, 0x00, 0x00, 0xc3};
	struct probe_site site;
	(void)state;
	assert_int_equal(sites__entry(mov_eax, sizeof(mov_eax), 0x1000, BIT(KVS_REG_RAX), &site),
			 0);
	assert_int_equal(site.vaddr, 0x1000);
	assert_int_equal(sites__entry(mov_eax, sizeof(mov_eax), 0x1000, BIT(KVS_REG_RBX), &site),
			 0);
	assert_int_equal(site.vaddr, 0x1005);
	assert_int_equal(site.cost, SITE_COST_NOP5);
	assert_string_equal(site.insn, "nop dword ptr [rax + rax]");
	assert_int_equal(sites__entry(mov_al, sizeof(mov_al), 0x1000, BIT(KVS_REG_RAX), &site), 0);
	assert_int_equal(site.vaddr, 0x1000);
	assert_int_equal(sites__entry(mov_r8d, sizeof(mov_r8d), 0x1000, BIT(KVS_REG_R8), &site), 0);
	assert_int_equal(site.vaddr, 0x1000);
	assert_int_equal(sites__entry(mov_r8d, sizeof(mov_r8d), 0x1000, BIT(KVS_REG_R9), &site), 0);
	assert_int_equal(site.vaddr, 0x1006);
	assert_int_equal(sites__entry(cmpxchg, sizeof(cmpxchg), 0x1000, BIT(KVS_REG_RAX), &site),
			 0);
	assert_int_equal(site.vaddr, 0x1000);
}

static void test_entry_cheapest_earliest(void **state)
{
	/* push rbp; nop5; jmp: the nop5 beats the earlier emulated push */
	static const uint8_t push_nop5[] = {0x55, 0x0f, 0x1f, 0x44, 0x00, 0x00, 0xeb, 0xfe};
	/* nop; nop; ret: equal costs, the first wins */
	static const uint8_t nops[] = {0x90, 0x90, 0xc3};
	/* nop5 after the first control transfer is out of reach */
	static const uint8_t after_jmp[] = {0x90, 0xeb, 0x00, 0x0f, 0x1f, 0x44, 0x00, 0x00};
	struct probe_site site;
	(void)state;
	assert_int_equal(sites__entry(push_nop5, sizeof(push_nop5), 0x2000, 0, &site), 0);
	assert_int_equal(site.vaddr, 0x2001);
	assert_int_equal(site.cost, SITE_COST_NOP5);
	assert_int_equal(sites__entry(nops, sizeof(nops), 0x2000, 0, &site), 0);
	assert_int_equal(site.vaddr, 0x2000);
	assert_string_equal(site.insn, "nop");
	assert_int_equal(sites__entry(after_jmp, sizeof(after_jmp), 0x2000, 0, &site), 0);
	assert_int_equal(site.vaddr, 0x2000);
}

static void test_entry_branch_target(void **state)
{
	/*
	 * nop; mov eax,ebx; nop5 (a loop head); jmp back to the nop5. A probe
	 * on the nop5 would fire once per iteration, not once per call.
	 */
	static const uint8_t code[] = {0x90, 0x89, 0xd8, 0x0f, 0x1f, 0x44, 0x00, 0x00, 0xeb, 0xf9};
	struct probe_site site;
	(void)state;
	assert_int_equal(sites__entry(code, sizeof(code), 0x3000, 0, &site), 0);
	assert_int_equal(site.vaddr, 0x3000);
	assert_int_equal(site.cost, SITE_COST_EMULATED);
}

static void test_entry_bad_input(void **state)
{
	static const uint8_t invalid[] = {0x06, 0x90};
	static const uint8_t truncated[] = {0x0f, 0x1f, 0x44};
	static const uint8_t nop_then_truncated[] = {0x90, 0x0f, 0x1f, 0x44};
	struct probe_site site;
	(void)state;
	assert_int_equal(sites__entry(invalid, sizeof(invalid), 0x1000, 0, &site), -ENOENT);
	assert_int_equal(sites__entry(truncated, sizeof(truncated), 0x1000, 0, &site), -ENOENT);
	assert_int_equal(sites__entry(invalid, 0, 0x1000, 0, &site), -ENOENT);
	assert_int_equal(sites__entry(NULL, 0, 0x1000, 0, &site), -ENOENT);
	assert_int_equal(
	    sites__entry(nop_then_truncated, sizeof(nop_then_truncated), 0x1000, 0, &site), 0);
	assert_int_equal(site.vaddr, 0x1000);
}

static void test_rets(void **state)
{
	/* ret; mov eax,0xc3c3c3c3; ret 8; invalid byte; rep ret; nop */
	static const uint8_t code[] = {0xc3, 0xb8, 0xc3, 0xc3, 0xc3, 0xc3, 0xc2,
				       0x08, 0x00, 0x06, 0xf3, 0xc3, 0x90};
	struct probe_site out[4];
	(void)state;
	assert_int_equal(sites__rets(code, sizeof(code), 0x4000, out, 4), 3);
	assert_int_equal(out[0].vaddr, 0x4000);
	assert_string_equal(out[0].insn, "ret");
	assert_int_equal(out[1].vaddr, 0x4006);
	assert_string_equal(out[1].insn, "ret 8");
	assert_int_equal(out[2].vaddr, 0x400a);
	assert_int_equal(out[2].cost, SITE_COST_SINGLESTEP);

	/* Only `max` are stored; the count is still complete. */
	memset(out, 0xab, sizeof(out));
	assert_int_equal(sites__rets(code, sizeof(code), 0x4000, out, 1), 3);
	assert_int_equal(out[0].vaddr, 0x4000);
	assert_int_equal(out[1].vaddr, 0xababababababababULL);
	assert_int_equal(sites__rets(code, sizeof(code), 0x4000, NULL, 0), 3);
	assert_int_equal(sites__rets(code, 0, 0x4000, out, 4), 0);
	assert_int_equal(sites__rets(NULL, 0, 0x4000, out, 4), 0);
}

/* A function with two calls to 0x2000 and one to 0x3000, at vaddr 0x1000. */
static const uint8_t calls_fn[] = {
    0xe8, 0xfb, 0x0f, 0x00, 0x00, /* 1000: call 0x2000 */
    0x48, 0x89, 0x44, 0x24, 0x08, /* 1005: mov [rsp+8],rax */
    0x0f, 0x1f, 0x44, 0x00, 0x00, /* 100a: nop5 */
    0xc3,			  /* 100f: ret */
    0xe8, 0xeb, 0x1f, 0x00, 0x00, /* 1010: call 0x3000 */
    0x90,			  /* 1015: nop */
    0xe8, 0xe5, 0x0f, 0x00, 0x00, /* 1016: call 0x2000 */
    0x48, 0x89, 0xc1,		  /* 101b: mov rcx,rax */
    0x31, 0xc0,			  /* 101e: xor eax,eax */
    0x90,			  /* 1020: nop */
    0xc3,			  /* 1021: ret */
    0xe8, 0xd9, 0x0f, 0x00, 0x00, /* 1022: call 0x2000, nothing after */
};

static void test_call_returns(void **state)
{
	struct probe_site out[4];
	uint32_t results = BIT(KVS_REG_RAX) | BIT(KVS_REG_RBX);
	(void)state;
	assert_int_equal(
	    sites__call_returns(calls_fn, sizeof(calls_fn), 0x1000, 0x2000, results, out, 4), 2);
	assert_int_equal(out[0].vaddr, 0x100a);
	assert_int_equal(out[0].cost, SITE_COST_NOP5);
	/* xor eax,eax ends the window: the nop after it sees a clobbered rax. */
	assert_int_equal(out[1].vaddr, 0x101b);
	assert_int_equal(out[1].cost, SITE_COST_SINGLESTEP);
	assert_string_equal(out[1].insn, "mov rcx, rax");

	assert_int_equal(sites__call_returns(calls_fn, sizeof(calls_fn), 0x1000, 0x2000, 0, out, 4),
			 2);
	assert_int_equal(out[1].vaddr, 0x1020);
	assert_int_equal(out[1].cost, SITE_COST_EMULATED);

	assert_int_equal(
	    sites__call_returns(calls_fn, sizeof(calls_fn), 0x1000, 0x3000, results, out, 4), 1);
	assert_int_equal(out[0].vaddr, 0x1015);

	memset(out, 0, sizeof(out));
	assert_int_equal(
	    sites__call_returns(calls_fn, sizeof(calls_fn), 0x1000, 0x2000, results, out, 1), 2);
	assert_int_equal(out[0].vaddr, 0x100a);
	assert_int_equal(out[1].vaddr, 0);
	assert_int_equal(
	    sites__call_returns(calls_fn, sizeof(calls_fn), 0x1000, 0x4000, results, out, 4), 0);
	assert_int_equal(sites__call_returns(NULL, 0, 0x1000, 0x2000, results, out, 4), 0);
}

/* Deterministic so a failure can be replayed. */
static uint32_t lcg_next(uint32_t *s)
{
	*s = *s * 1103515245u + 12345u;
	return *s >> 8;
}

static void assert_site_inside(const struct probe_site *s, uint64_t vaddr, size_t len)
{
	assert_true(s->vaddr >= vaddr && s->vaddr < vaddr + len);
	assert_true(s->cost <= SITE_COST_SINGLESTEP);
	assert_non_null(memchr(s->insn, '\0', sizeof(s->insn)));
}

static void fuzz_one(const uint8_t *buf, size_t len, uint64_t vaddr)
{
	struct probe_site site, out[8];
	int n;

	(void)sites__classify(buf, len);
	assert_true(sites__trim_padding(buf, len) <= len);
	if (sites__entry(buf, len, vaddr, (uint32_t)len * 2654435761u, &site) == 0)
		assert_site_inside(&site, vaddr, len);
	n = sites__rets(buf, len, vaddr, out, 8);
	assert_true(n >= 0 && (size_t)n <= len);
	for (int i = 0; i < n && i < 8; i++)
		assert_site_inside(&out[i], vaddr, len);
	/* Aim at a callee a rel32 in the buffer may hit: the buffer's own start. */
	n = sites__call_returns(buf, len, vaddr, vaddr, 0, out, 8);
	assert_true(n >= 0 && (size_t)n <= len);
	for (int i = 0; i < n && i < 8; i++)
		assert_site_inside(&out[i], vaddr, len);
}

static void test_fuzz_random_bytes(void **state)
{
	uint32_t seed = 20240601;
	uint8_t buf[256];
	(void)state;
	for (int iter = 0; iter < 3000; iter++) {
		size_t len = lcg_next(&seed) % (sizeof(buf) + 1);
		for (size_t i = 0; i < len; i++)
			buf[i] = (uint8_t)lcg_next(&seed);
		/* Plant calls to the buffer start so call_returns has work to do. */
		if (len >= 5 && iter % 2) {
			size_t at = lcg_next(&seed) % (len - 4);
			int32_t rel = -(int32_t)(at + 5);
			buf[at] = 0xe8;
			memcpy(buf + at + 1, &rel, 4);
		}
		fuzz_one(buf, len, 0x400000 + iter * 0x1000ULL);
	}
}

/* A call to 0x2000 at 0x1000, then what the compiler does with its results. */
struct flow_case {
	const char *what;
	uint8_t code[48];
	size_t len;
	uint64_t site; /* 0: no site */
	int reg;       /* where result 0 is there: a register, or -1 */
	int32_t slot;  /* the stack slot when reg is -1 */
	uint32_t keep;
};

#define CALL_2000 0xe8, 0xfb, 0x0f, 0x00, 0x00 /* 1000: call 0x2000 */

static const struct flow_case flow_cases[] = {
    {"spilled, then a nop",
     {CALL_2000, 0x48, 0x89, 0x44, 0x24, 0x68, /* 1005: mov [rsp+0x68],rax */
      0x48, 0x8b, 0x44, 0x24, 0x48,	       /* 100a: mov rax,[rsp+0x48] */
      0x90, 0xc3},			       /* 100f: nop; ret */
     17,
     0x100f,
     -1,
     0x68,
     0},
    {"copied to rcx, then a jcc",
     {CALL_2000, 0x48, 0x89, 0xc1, /* 1005: mov rcx,rax */
      0x31, 0xc0,		   /* 1008: xor eax,eax */
      0x74, 0x00, 0xc3},	   /* 100a: je +0; ret */
     13,
     0x100a,
     KVS_REG_RCX,
     0,
     0},
    {"reloaded from its slot",
     {CALL_2000, 0x48, 0x89, 0x44, 0x24, 0x08,		/* mov [rsp+8],rax */
      0x31,	 0xc0,					/* xor eax,eax */
      0x48,	 0x8b, 0x54, 0x24, 0x08,		/* mov rdx,[rsp+8] */
      0x48,	 0xc7, 0x44, 0x24, 0x08, 0,    0, 0, 0, /* mov qword [rsp+8],0 */
      0x90,	 0xc3},
     28,
     0x101a,
     KVS_REG_RDX,
     0,
     0},
    {"its slot overwritten by a vector store",
     {CALL_2000, 0x48, 0x89, 0x44, 0x24, 0x10, /* 1005: mov [rsp+0x10],rax */
      0x31, 0xc0,			       /* 100a: xor eax,eax */
      0x44, 0x0f, 0x11, 0x7c, 0x24, 0x08,      /* 100c: movups [rsp+8],xmm15 */
      0x90, 0xc3},			       /* 1012: nop */
     20,
     0x1005,
     KVS_REG_RAX,
     0,
     0},
    {"its slot overwritten through a frame pointer",
     {CALL_2000, 0x48, 0x89, 0x44, 0x24, 0x10, /* 1005: mov [rsp+0x10],rax */
      0x48, 0x8d, 0x4c, 0x24, 0x08,	       /* 100a: lea rcx,[rsp+8] */
      0x31, 0xc0,			       /* 100f: xor eax,eax */
      0x48, 0x89, 0x51, 0x08,		       /* 1011: mov [rcx+8],rdx */
      0x90, 0xc3},			       /* 1015: nop */
     23,
     0x1005,
     KVS_REG_RAX,
     0,
     0},
    {"a store elsewhere leaves the slot",
     {CALL_2000, 0x48, 0x89, 0x44, 0x24, 0x10, /* mov [rsp+0x10],rax */
      0x31, 0xc0,			       /* xor eax,eax */
      0x48, 0x89, 0x51, 0x08,		       /* mov [rcx+8],rdx */
      0x90, 0xc3},			       /* 1010: nop */
     19,
     0x1010,
     -1,
     0x10,
     0},
    {"a branch target ends the stretch",
     {CALL_2000, 0x48, 0x89, 0xc1, /* 1005: mov rcx,rax */
      0x90,			   /* 1008: nop, jumped to */
      0xeb, 0xfd},		   /* 1009: jmp 0x1008 */
     11,
     0x1005,
     KVS_REG_RAX,
     0,
     0},
    {"the goroutine register must stay",
     {CALL_2000, 0x48, 0x89, 0x44, 0x24, 0x68, /* 1005: mov [rsp+0x68],rax */
      0x4d, 0x31, 0xf6,			       /* 100a: xor r14,r14 */
      0x90, 0xc3},			       /* 100d: nop */
     15,
     0x1005,
     KVS_REG_RAX,
     0,
     1u << KVS_REG_R14},
};

static void test_call_values(void **state)
{
	const int regs[] = {KVS_REG_RAX};
	(void)state;
	for (size_t i = 0; i < sizeof(flow_cases) / sizeof(flow_cases[0]); i++) {
		const struct flow_case *c = &flow_cases[i];
		struct call_site out[2];
		int n =
		    sites__call_values(c->code, c->len, 0x1000, 0x2000, regs, 1, c->keep, out, 2);

		if (n != 1)
			fail_msg("%s: %d sites", c->what, n);
		if (out[0].site.vaddr != c->site || out[0].values[0].reg != c->reg ||
		    (c->reg < 0 && out[0].values[0].sp_offset != c->slot))
			fail_msg("%s: site 0x%llx (%s), value in %d/%d; want 0x%llx, %d/%d",
				 c->what, (unsigned long long)out[0].site.vaddr, out[0].site.insn,
				 out[0].values[0].reg, out[0].values[0].sp_offset,
				 (unsigned long long)c->site, c->reg, c->slot);
		assert_int_equal(out[0].call_vaddr, 0x1000);
	}
}

/* Two results: the site needs both held; with none to follow it is the cheapest. */
static void test_call_values_two(void **state)
{
	static const uint8_t code[] = {
	    CALL_2000, 0x48, 0x89, 0x44, 0x24, 0x10,  /* 1005: mov [rsp+0x10],rax */
	    0x90,				      /* 100a: nop */
	    0x31,      0xdb,			      /* 100b: xor ebx,ebx */
	    0x0f,      0x1f, 0x44, 0x00, 0x00, 0xc3}; /* 100d: nop5; ret */
	const int both[] = {KVS_REG_RAX, KVS_REG_RBX}, bad[] = {KVS_REG_COUNT};
	struct call_site out[1];
	(void)state;
	assert_int_equal(sites__call_values(code, sizeof(code), 0x1000, 0x2000, both, 2, 0, out, 1),
			 1);
	assert_int_equal(out[0].site.vaddr, 0x100a);
	assert_int_equal(out[0].values[0].reg, KVS_REG_RAX);
	assert_int_equal(out[0].values[1].reg, KVS_REG_RBX);
	assert_int_equal(sites__call_values(code, sizeof(code), 0x1000, 0x2000, both, 0, 0, out, 1),
			 1);
	assert_int_equal(out[0].site.vaddr, 0x100d);
	assert_int_equal(out[0].site.cost, SITE_COST_NOP5);
	assert_int_equal(sites__call_values(code, sizeof(code), 0x1000, 0x3000, both, 2, 0, out, 1),
			 0);
	assert_int_equal(sites__call_values(code, sizeof(code), 0x1000, 0x2000, bad, 1, 0, out, 1),
			 -EINVAL);
	assert_int_equal(sites__call_values(NULL, 0, 0x1000, 0x2000, both, 2, 0, out, 1), 0);
}

static void test_stack_stores(void **state)
{
	static const uint8_t code[] = {
	    0x48, 0x89, 0x84, 0x24, 0x50, 0x01, 0x00, 0x00, /* mov [rsp+0x150],rax */
	    0x88, 0x9c, 0x24, 0x58, 0x01, 0x00, 0x00,	    /* mov [rsp+0x158],bl: a byte */
	    0x48, 0x89, 0x44, 0x24, 0x08,		    /* mov [rsp+8],rax */
	    0x48, 0x89, 0x41, 0x08,			    /* mov [rcx+8],rax: not the stack */
	    0xc3};
	struct stack_store out[4];
	(void)state;
	assert_int_equal(sites__stack_stores(code, sizeof(code), 0x1000, KVS_REG_RAX, out, 4), 2);
	assert_int_equal(out[0].vaddr, 0x1000);
	assert_int_equal(out[0].disp, 0x150);
	assert_int_equal(out[1].vaddr, 0x100f);
	assert_int_equal(out[1].disp, 8);
	assert_int_equal(sites__stack_stores(code, sizeof(code), 0x1000, KVS_REG_RBX, out, 4), 0);
	assert_int_equal(sites__stack_stores(code, sizeof(code), 0x1000, -1, out, 4), 0);
}

static struct symtab *open_fixture(const char *name)
{
	const char *dir = getenv("KVSCOPE_FIXTURES");
	struct symtab *st = NULL;
	char path[512], err[256];

	snprintf(path, sizeof(path), "%s/%s", dir && *dir ? dir : "build/fixtures", name);
	if (symtab__open(path, &st, err, sizeof(err)))
		fail_msg("%s: %s (build it with make)", path, err);
	return st;
}

static uint8_t *function_code(const struct symtab *st, const char *name, struct func_sym *fs,
			      size_t *len)
{
	uint8_t *code;

	if (symtab__find(st, name, fs))
		fail_msg("no %s", name);
	code = malloc(fs->size);
	assert_non_null(code);
	assert_int_equal(symtab__read(st, fs->vaddr, code, fs->size), 0);
	*len = sites__trim_padding(code, fs->size);
	return code;
}

/*
 * The WAL sync of the etcd 3.5 stand-in, as each toolchain compiled it: one
 * call to Fdatasync; the error is followed to a cheap site, and when it is
 * read from a slot, the code stored rax there between the call and the site.
 */
static void check_wal_sync(const char *fixture)
{
	const int regs[] = {KVS_REG_RAX, KVS_REG_RBX};
	struct symtab *st = open_fixture(fixture);
	struct func_sym fs, fd;
	struct call_site out[2];
	struct stack_store stores[16];
	size_t len;
	uint8_t *code = function_code(st, "go.etcd.io/etcd/server/v3/wal.(*WAL).sync", &fs, &len);
	int n;

	assert_int_equal(symtab__find(st, "go.etcd.io/etcd/client/pkg/v3/fileutil.Fdatasync", &fd),
			 0);
	assert_int_equal(sites__call_values(code, len, fs.vaddr, fd.vaddr, regs, 2, 0, out, 2), 1);
	assert_true(out[0].site.vaddr > out[0].call_vaddr);
	assert_true(out[0].site.cost <= SITE_COST_EMULATED);
	if (out[0].values[0].reg >= 0)
		goto done;
	n = sites__stack_stores(code, len, fs.vaddr, KVS_REG_RAX, stores, 16);
	for (int i = 0; i < n && i < 16; i++)
		if (stores[i].vaddr > out[0].call_vaddr && stores[i].vaddr < out[0].site.vaddr &&
		    stores[i].disp == out[0].values[0].sp_offset)
			goto done;
	fail_msg("%s: no store of rax to [rsp+0x%x] before 0x%llx", fixture,
		 out[0].values[0].sp_offset, (unsigned long long)out[0].site.vaddr);
done:
	free(code);
	symtab__close(st);
}

static void test_fixture_wal_sync(void **state)
{
	(void)state;
	check_wal_sync("etcdv3");
	check_wal_sync("go1.23/etcdv3");
}

/* The gRPC handler's entry: the stack check's jump, with every argument still in place. */
static void test_fixture_handler_entry(void **state)
{
	static const char *const fixtures[] = {"etcdv3", "go1.23/etcdv3"};
	uint32_t live = BIT(KVS_REG_RAX) | BIT(KVS_REG_RBX) | BIT(KVS_REG_RCX) | BIT(KVS_REG_RDI) |
			BIT(KVS_REG_RSI) | BIT(KVS_REG_R8) | BIT(KVS_REG_R14);
	(void)state;
	for (size_t i = 0; i < 2; i++) {
		struct symtab *st = open_fixture(fixtures[i]);
		struct probe_site site;
		struct func_sym fs;
		size_t len;
		uint8_t *code = function_code(
		    st, "go.etcd.io/etcd/api/v3/etcdserverpb._KV_Range_Handler", &fs, &len);

		assert_int_equal(sites__entry(code, len, fs.vaddr, live, &site), 0);
		assert_int_equal(site.cost, SITE_COST_EMULATED);
		assert_true(strncmp(site.insn, "jbe ", 4) == 0);
		assert_true(site.vaddr > fs.vaddr && site.vaddr < fs.vaddr + 16);
		free(code);
		symtab__close(st);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_cost_names),
	    cmocka_unit_test(test_classify_emulated),
	    cmocka_unit_test(test_classify_singlestep),
	    cmocka_unit_test(test_trim_padding),
	    cmocka_unit_test(test_entry_go_prologue),
	    cmocka_unit_test(test_entry_lea_prologue),
	    cmocka_unit_test(test_entry_closure),
	    cmocka_unit_test(test_entry_live_stop),
	    cmocka_unit_test(test_entry_cheapest_earliest),
	    cmocka_unit_test(test_entry_branch_target),
	    cmocka_unit_test(test_entry_bad_input),
	    cmocka_unit_test(test_rets),
	    cmocka_unit_test(test_call_returns),
	    cmocka_unit_test(test_fuzz_random_bytes),
	    cmocka_unit_test(test_call_values),
	    cmocka_unit_test(test_call_values_two),
	    cmocka_unit_test(test_stack_stores),
	    cmocka_unit_test(test_fixture_wal_sync),
	    cmocka_unit_test(test_fixture_handler_entry),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
