/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the running kernel offers kvscope, and the best syscall hook among
 * them. The choice is a pure function so every combination is tested.
 */
#ifndef KVSCOPE_HOOKS_H
#define KVSCOPE_HOOKS_H

#include <stdbool.h>
#include <stdio.h>

enum syscall_hook {
	HOOK_NONE,
	HOOK_FENTRY,	 /* fentry/fexit on __x64_sys_*: cheapest, needs BTF and trampolines */
	HOOK_KSYSCALL,	 /* kprobes on the syscalls */
	HOOK_TRACEPOINT, /* syscalls:sys_enter_* / sys_exit_* */
	HOOK_RAW_TP,	 /* raw sys_enter/sys_exit: every syscall of the host passes */
};

struct kernel_features {
	char release[128];
	bool btf;	    /* /sys/kernel/btf/vmlinux: CO-RE relocations */
	bool uprobe;	    /* uprobe PMU */
	bool uretprobe;	    /* its retprobe flag */
	bool attach_cookie; /* bpf_get_attach_cookie for kprobe-type programs (5.15) */
	bool kprobe;	    /* kprobe PMU or kprobe_events */
	bool fentry;	    /* a trial fentry program loads and attaches */
	bool syscall_tp;    /* syscalls:sys_enter_fdatasync exists */
	bool raw_tp;	    /* raw tracepoint programs */
	bool ringbuf;	    /* BPF ring buffer maps */
	bool bpf_stats;	    /* kernel.bpf_stats_enabled */
	bool tracefs;	    /* tracefs mounted (kvscope mounts it when it can) */
};

/* Probes this kernel: file checks, libbpf feature probes and a trial load. */
void hooks__probe(struct kernel_features *f);
enum syscall_hook hooks__choose(const struct kernel_features *f);
const char *hooks__name(enum syscall_hook h);
/* Why kvscope cannot run here (NULL when it can). */
const char *hooks__blocker(const struct kernel_features *f);
/* The table `kvscope check` prints. */
void hooks__print(FILE *out, const struct kernel_features *f);

#endif
