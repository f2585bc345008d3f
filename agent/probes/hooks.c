// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/statfs.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <bpf/libbpf.h>

#include "probes/hooks.h"
#include "syscalls.skel.h"

#define TRACEFS	      "/sys/kernel/tracing"
#define TRACEFS_MAGIC 0x74726163

static const char *const hook_names[] = {
    [HOOK_NONE] = "none",
    [HOOK_FENTRY] = "fentry",
    [HOOK_KSYSCALL] = "ksyscall",
    [HOOK_TRACEPOINT] = "tracepoint",
    [HOOK_RAW_TP] = "raw_tracepoint",
};

const char *hooks__name(enum syscall_hook h)
{
	return h <= HOOK_RAW_TP ? hook_names[h] : "unknown";
}

enum syscall_hook hooks__choose(const struct kernel_features *f)
{
	if (f->btf && f->fentry)
		return HOOK_FENTRY;
	if (f->kprobe)
		return HOOK_KSYSCALL;
	if (f->syscall_tp)
		return HOOK_TRACEPOINT;
	if (f->raw_tp)
		return HOOK_RAW_TP;
	return HOOK_NONE;
}

const char *hooks__blocker(const struct kernel_features *f)
{
	if (!f->btf)
		return "no kernel BTF (/sys/kernel/btf/vmlinux): CO-RE programs cannot be "
		       "relocated";
	if (!f->uprobe)
		return "no uprobe support in this kernel";
	if (!f->attach_cookie)
		return "no bpf_get_attach_cookie (Linux 5.15 or later is needed)";
	return NULL;
}

static bool exists(const char *path)
{
	return access(path, F_OK) == 0;
}

static bool tracefs_ready(void)
{
	struct statfs sf;

	if (statfs(TRACEFS, &sf) == 0 && sf.f_type == TRACEFS_MAGIC)
		return true;
	/* syscall tracepoints are named through tracefs; mount it if we may */
	return mount("nodev", TRACEFS, "tracefs", 0, NULL) == 0;
}

/* fentry can be refused by policy or missing trampolines: only a trial tells. */
static bool fentry_works(void)
{
	struct syscalls_bpf *skel = syscalls_bpf__open();
	struct bpf_program *prog;
	struct bpf_link *link;
	bool ok = false;

	if (!skel)
		return false;
	bpf_object__for_each_program(prog, skel->obj)
	    bpf_program__set_autoload(prog, prog == skel->progs.fentry_trial);
	if (syscalls_bpf__load(skel) == 0) {
		link = bpf_program__attach(skel->progs.fentry_trial);
		ok = link != NULL;
		bpf_link__destroy(link);
	}
	syscalls_bpf__destroy(skel);
	return ok;
}

static int quiet_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	(void)level;
	(void)fmt;
	(void)ap;
	return 0;
}

void hooks__probe(struct kernel_features *f)
{
	struct utsname u;
	libbpf_print_fn_t old = libbpf_set_print(quiet_print);

	memset(f, 0, sizeof(*f));
	if (uname(&u) == 0)
		snprintf(f->release, sizeof(f->release), "%s", u.release);
	f->btf = exists("/sys/kernel/btf/vmlinux");
	f->uprobe = exists("/sys/bus/event_source/devices/uprobe/type");
	f->uretprobe = exists("/sys/bus/event_source/devices/uprobe/format/retprobe");
	f->kprobe = exists("/sys/bus/event_source/devices/kprobe/type");
	f->tracefs = tracefs_ready();
	f->syscall_tp = f->tracefs && exists(TRACEFS "/events/syscalls/sys_enter_fdatasync/id");
	f->attach_cookie =
	    libbpf_probe_bpf_helper(BPF_PROG_TYPE_KPROBE, BPF_FUNC_get_attach_cookie, NULL) == 1;
	f->raw_tp = libbpf_probe_bpf_prog_type(BPF_PROG_TYPE_RAW_TRACEPOINT, NULL) == 1;
	f->ringbuf = libbpf_probe_bpf_map_type(BPF_MAP_TYPE_RINGBUF, NULL) == 1;
	f->bpf_stats = exists("/proc/sys/kernel/bpf_stats_enabled");
	f->fentry = f->btf && fentry_works();
	libbpf_set_print(old);
}

static void row(FILE *out, const char *what, bool yes)
{
	fprintf(out, "  %-34s %s\n", what, yes ? "yes" : "no");
}

void hooks__print(FILE *out, const struct kernel_features *f)
{
	const char *blocker = hooks__blocker(f);

	fprintf(out, "kernel release                       %s\n", f->release);
	fprintf(out, "features:\n");
	row(out, "BTF (CO-RE)", f->btf);
	row(out, "uprobe", f->uprobe);
	row(out, "uretprobe", f->uretprobe);
	row(out, "attach cookies", f->attach_cookie);
	row(out, "kprobe / ksyscall", f->kprobe);
	row(out, "fentry / fexit", f->fentry);
	row(out, "syscall tracepoints", f->syscall_tp);
	row(out, "raw tracepoints", f->raw_tp);
	row(out, "ring buffer", f->ringbuf);
	row(out, "bpf_stats", f->bpf_stats);
	row(out, "tracefs mounted", f->tracefs);
	fprintf(out, "chosen hooks:\n");
	fprintf(out, "  %-34s %s\n", "store functions", f->uprobe ? "uprobe" : "none");
	fprintf(out, "  %-34s %s\n", "disk syscalls", hooks__name(hooks__choose(f)));
	fprintf(out, "  %-34s %s\n", "process events",
		f->ringbuf && f->tracefs ? "sched tracepoints" : "procfs polling");
	fprintf(out, "verdict: %s%s\n",
		blocker ? "kvscope cannot run here: " : "kvscope can run here",
		blocker ? blocker : "");
}
