// SPDX-License-Identifier: Apache-2.0
#include "probes/examiner.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/caps.h"

#define RESULT_MAGIC 0x6b767365u
#define MAX_SITES    (PROFILE_MAX_PROBES * 64)

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif

void (*examiner__child_hook)(void);

struct result {
	uint32_t magic;
	int32_t verdict;
	int32_t profile; /* index in the catalog, -1 for none */
	int32_t nsites;
	int32_t caps_held; /* the child's effective and permitted sets were not empty */
	int32_t unsupported_version;
	char module[256];
	char version[64];
	char go_version[32];
	char reason[512];
};

static int write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int profile_index(const struct catalog *cat, const struct profile *p)
{
	for (int i = 0; p && i < cat->count; i++)
		if (cat->profiles[i] == p)
			return i;
	return -1;
}

/* Every descriptor but stdio, the binary's and the pipe's goes. */
static void close_others(int keep_a, int keep_b)
{
	int lo = keep_a < keep_b ? keep_a : keep_b, hi = keep_a < keep_b ? keep_b : keep_a;

	if (lo > 3)
		close_range(3, (unsigned)lo - 1, 0);
	if (hi > lo + 1)
		close_range((unsigned)lo + 1, (unsigned)hi - 1, 0);
	close_range((unsigned)hi + 1, ~0u, 0);
}

static void limit(int resource, rlim_t value)
{
	struct rlimit rl = {value, value};

	setrlimit(resource, &rl);
}

#ifndef UNDER_ASAN
static rlim_t address_space_now(void)
{
	unsigned long pages = 0;
	FILE *f = fopen("/proc/self/statm", "re");

	if (f && fscanf(f, "%lu", &pages) != 1)
		pages = 0;
	if (f)
		fclose(f);
	return (rlim_t)pages * (rlim_t)sysconf(_SC_PAGESIZE);
}
#endif

static bool holds_capabilities(void)
{
	char line[128];
	bool held = false;
	FILE *f = fopen("/proc/self/status", "re");

	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, "CapEff:", 7) || !strncmp(line, "CapPrm:", 7))
			held |= strtoull(line + 7, NULL, 16) != 0;
	if (f)
		fclose(f);
	return held;
}

static void confine(int fd, int out)
{
	char err[128];

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	close_others(fd, out);
	if (caps__drop_thread(err, sizeof(err))) /* one thread now: the process */
		_exit(3);
	limit(RLIMIT_CORE, 0);
	limit(RLIMIT_CPU, (rlim_t)BUDGET_SECONDS + 2);
#ifndef UNDER_ASAN
	limit(RLIMIT_AS, address_space_now() + EXAMINER_MEMORY);
#endif
}

static _Noreturn void child(const struct catalog *cat, int fd, int out)
{
	struct binary b = {.fd = -1};
	struct result r = {.magic = RESULT_MAGIC};

	confine(fd, out);
	if (examiner__child_hook)
		examiner__child_hook();
	binary__examine_fd(&b, cat, fd, NULL);
	r.verdict = (int32_t)b.verdict;
	r.profile = profile_index(cat, b.profile);
	r.nsites = b.res.nsites;
	r.caps_held = holds_capabilities();
	r.unsupported_version = b.unsupported_version;
	memcpy(r.module, b.module, sizeof(r.module));
	memcpy(r.version, b.version, sizeof(r.version));
	memcpy(r.go_version, b.go_version, sizeof(r.go_version));
	memcpy(r.reason, b.reason, sizeof(r.reason));
	if (write_all(out, &r, sizeof(r)) ||
	    write_all(out, b.res.sites, (size_t)b.res.nsites * sizeof(*b.res.sites)))
		_exit(4);
	_exit(0);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Reads exactly len bytes before the deadline; -1 on EOF, error or time out. */
static int read_until(int fd, void *buf, size_t len, double deadline)
{
	char *p = buf;

	while (len) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		int wait_ms = (int)((deadline - now_s()) * 1000);
		ssize_t n;

		int ready = wait_ms > 0 ? poll(&pfd, 1, wait_ms) : 0;

		if (ready < 0 && errno == EINTR)
			continue; /* a signal for the agent, not the end of the child */
		if (ready <= 0)
			return -1;
		n = read(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static void refuse(struct binary *b, const char *why)
{
	resolution__free(&b->res);
	b->verdict = BINARY_REFUSED;
	b->profile = NULL;
	b->transient = true;
	snprintf(b->reason, sizeof(b->reason), "examination failed: %s", why);
}

/* Whether what the child sent can be used: it parsed a tenant's file, so it is checked. */
static bool plausible(const struct result *r, const struct catalog *cat)
{
	if (r->magic != RESULT_MAGIC || r->verdict < BINARY_NOT_A_STORE ||
	    r->verdict > BINARY_REFUSED || r->profile < -1 || r->profile >= cat->count ||
	    r->nsites < 0 || r->nsites > MAX_SITES)
		return false;
	if (r->verdict == BINARY_READY)
		return r->profile >= 0 && r->nsites > 0;
	return r->nsites == 0;
}

static int receive(struct binary *b, const struct catalog *cat, int in, double deadline)
{
	struct result r;
	const struct profile *p;

	if (read_until(in, &r, sizeof(r), deadline) || !plausible(&r, cat))
		return -1;
	p = r.profile >= 0 ? cat->profiles[r.profile] : NULL;
	if (r.nsites) {
		b->res.sites = calloc((size_t)r.nsites, sizeof(*b->res.sites));
		if (!b->res.sites || read_until(in, b->res.sites,
						(size_t)r.nsites * sizeof(*b->res.sites), deadline))
			return -1;
	}
	b->res.nsites = r.nsites;
	for (int i = 0; i < r.nsites; i++)
		if (b->res.sites[i].probe < 0 || b->res.sites[i].probe >= p->nprobes)
			return -1;
	b->verdict = (enum binary_verdict)r.verdict;
	b->profile = p;
	b->caps_held = r.caps_held != 0;
	b->unsupported_version = r.unsupported_version != 0;
	r.module[sizeof(r.module) - 1] = '\0';
	memcpy(b->module, r.module, sizeof(b->module));
	r.version[sizeof(r.version) - 1] = r.go_version[sizeof(r.go_version) - 1] = '\0';
	r.reason[sizeof(r.reason) - 1] = '\0';
	memcpy(b->version, r.version, sizeof(b->version));
	memcpy(b->go_version, r.go_version, sizeof(b->go_version));
	memcpy(b->reason, r.reason, sizeof(b->reason));
	return 0;
}

/* How the child ended, for the reason of a refusal. */
static void describe_end(int status, bool timed_out, char *why, size_t len)
{
	if (timed_out)
		snprintf(why, len, "took more than %d s", EXAMINER_WALL_S);
	else if (WIFSIGNALED(status) && WTERMSIG(status) == SIGXCPU)
		snprintf(why, len, "took more than %.0f s of CPU", BUDGET_SECONDS);
	else if (WIFSIGNALED(status))
		snprintf(why, len, "the examining process was killed by signal %d",
			 WTERMSIG(status));
	else
		snprintf(why, len, "the examining process exited with %d, or sent nothing usable",
			 WIFEXITED(status) ? WEXITSTATUS(status) : -1);
}

void examiner__run(struct binary *b, const struct catalog *cat, int fd)
{
#ifdef UNDER_ASAN
	/*
	 * AddressSanitizer's allocator is not safe to use in a child forked
	 * from a process with other threads running (a child was seen to hang
	 * on a lock another thread held at the fork); glibc's malloc is. The
	 * sanitizer build examines in its own process.
	 */
	binary__examine_fd(b, cat, fd, NULL);
	b->caps_held = true;
#else
	examiner__run_forked(b, cat, fd);
#endif
}

void examiner__run_forked(struct binary *b, const struct catalog *cat, int fd)
{
	double deadline = now_s() + EXAMINER_WALL_S;
	int pipefd[2], status = 0, rc;
	char why[160];
	pid_t pid;

	if (pipe2(pipefd, O_CLOEXEC)) {
		refuse(b, strerror(errno));
		return;
	}
	pid = fork();
	if (pid == 0)
		child(cat, fd, pipefd[1]);
	close(pipefd[1]);
	if (pid < 0) {
		close(pipefd[0]);
		refuse(b, strerror(errno));
		return;
	}
	rc = receive(b, cat, pipefd[0], deadline);
	close(pipefd[0]);
	if (rc)
		kill(pid, SIGKILL); /* a child that sent nonsense or is too slow is done */
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (rc == 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return;
	describe_end(status, rc && now_s() >= deadline, why, sizeof(why));
	refuse(b, why);
}
