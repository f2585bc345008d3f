// SPDX-License-Identifier: Apache-2.0
/*
 * Discovery's logic without the kernel: the selection policy, the set of
 * pids the safety scan skips, the event key check, and discovery itself
 * over a fake procfs, where a store binary outside the policy must never
 * take a slot and events older than a target's look are stale.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "discover/targets.h"
#include "profile/catalog.h"

#define ETCD "/usr/bin/etcd"
#define TRUE "/bin/true"

static void test_policy_lists(void **state)
{
	const pid_t pids[] = {10, 20};
	const uid_t uids[] = {0, 1001};
	const char *const exes[] = {"*/etcd", "/opt/*/redis-server"};
	const char *const cgroups[] = {"/kubepods*"};
	const char *const names[] = {"infra*"};
	struct target_policy open = {0};
	struct target_policy p = {.pids = pids,
				  .npids = 2,
				  .uids = uids,
				  .nuids = 2,
				  .exe_globs = exes,
				  .nexe = 2,
				  .cgroup_globs = cgroups,
				  .ncgroup = 1,
				  .name_globs = names,
				  .nname = 1};

	(void)state;
	assert_true(policy__admits_pid(&open, 99));
	assert_true(policy__admits_exe(&open, "/anything"));
	assert_true(policy__admits_owner(&open, 12345, 0, "/user.slice"));
	assert_true(policy__admits_name(&open, "x"));
	assert_true(policy__admits_pid(&p, 20));
	assert_false(policy__admits_pid(&p, 30));
	assert_true(policy__admits_exe(&p, "/usr/bin/etcd"));
	assert_true(policy__admits_exe(&p, "/opt/redis7/redis-server"));
	assert_false(policy__admits_exe(&p, "/tmp/etcd.sh"));
	assert_true(policy__admits_owner(&p, 1001, 1001, "/kubepods.slice/pod1/c1"));
	assert_true(policy__admits_owner(&p, 0, 0, "/kubepods/burstable/pod1/c1"));
	/* a setuid binary started by someone else, or the other way round */
	assert_false(policy__admits_owner(&p, 1000, 0, "/kubepods/pod1/c1"));
	assert_false(policy__admits_owner(&p, 0, 1000, "/kubepods/pod1/c1"));
	assert_false(policy__admits_owner(&p, 0, 0, "/user.slice/user-1000.slice"));
	assert_false(policy__admits_owner(&p, 0, 0, "/user.slice/kubepods-fake"));
	assert_true(policy__admits_name(&p, "infra1"));
	assert_false(policy__admits_name(&p, "etcd-0"));
}

static void test_cgroup_scope(void **state)
{
	static const struct {
		const char *in, *want;
	} cases[] = {
	    {"/kubepods.slice/kubepods-pod1.slice/cri-containerd-a.scope",
	     "/kubepods.slice/kubepods-pod1.slice"},
	    {"/system.slice/etcd.service", "/system.slice"},
	    {"/user.slice", "/"},
	    {"/", "/"},
	    {"", "/"},
	};
	char out[64];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		policy__cgroup_scope(cases[i].in, out, sizeof(out));
		assert_string_equal(out, cases[i].want);
	}
	policy__cgroup_scope("/0123456789/x", out, 5);
	assert_string_equal(out, "/012");
}

static void test_pidset(void **state)
{
	struct pidset s;

	(void)state;
	pidset__init(&s);
	assert_false(pidset__mark(&s, 5));
	pidset__remove(&s, 5); /* empty: harmless */
	for (pid_t p = 1; p <= 5000; p++)
		assert_int_equal(pidset__add(&s, p * 7), 0);
	assert_int_equal(s.count, 5000);
	assert_int_equal(pidset__add(&s, 7), 0); /* again: no duplicate */
	assert_int_equal(s.count, 5000);
	for (pid_t p = 1; p <= 5000; p++)
		assert_true(pidset__mark(&s, p * 7));
	assert_false(pidset__mark(&s, 8));
	assert_false(pidset__mark(&s, 0));
	/* removal keeps every other entry reachable */
	for (pid_t p = 2; p <= 5000; p += 2)
		pidset__remove(&s, p * 7);
	assert_int_equal(s.count, 2500);
	for (pid_t p = 1; p <= 5000; p++)
		assert_int_equal(pidset__mark(&s, p * 7), p % 2 == 1);
	/* a scan that meets only some: the rest are gone after the sweep */
	pidset__begin(&s);
	for (pid_t p = 1; p <= 5000; p += 4)
		assert_true(pidset__mark(&s, p * 7));
	assert_int_equal(pidset__add(&s, 3), 0);
	pidset__sweep(&s);
	assert_int_equal(s.count, 1251);
	for (pid_t p = 1; p <= 5000; p++)
		assert_int_equal(pidset__mark(&s, p * 7), p % 4 == 1);
	assert_true(pidset__mark(&s, 3));
	pidset__clear(&s);
	assert_int_equal(s.count, 0);
	assert_false(pidset__mark(&s, 3));
	pidset__free(&s);
}

static void test_event_key_matches_stat(void **state)
{
	struct stat st;
	struct kvs_exe_key k;

	(void)state;
	assert_int_equal(stat(TRUE, &st), 0);
	/* the kernel's encoding: major in the top 12 bits, minor in the low 20 */
	k = (struct kvs_exe_key){
	    .ino = st.st_ino, .dev = (major(st.st_dev) << 20) | minor(st.st_dev), .gen = 77};
	assert_true(procevents__same_file(&k, st.st_dev, st.st_ino));
	k.ino++;
	assert_false(procevents__same_file(&k, st.st_dev, st.st_ino));
	k.ino--;
	k.dev ^= 1;
	assert_false(procevents__same_file(&k, st.st_dev, st.st_ino));
	k.dev ^= 1u << 20;
	assert_false(procevents__same_file(&k, st.st_dev, st.st_ino));
}

/* Discovery over a fake procfs with the built-in profiles and no BPF. */
struct fake {
	char root[64];
	struct catalog cat;
	struct binary_cache *bc;
	struct target_table table;
	struct discovery d;
	uid_t uids[1];
	const char *names[1];
};

static void put(const char *root, int pid, const char *file, const char *text, size_t len)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%d/%s", root, pid, file);
	f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, len, f), len);
	fclose(f);
}

static void fake_process(const char *root, int pid, int ppid, const char *exe, unsigned uid,
			 const char *argv, size_t argvlen)
{
	char path[256], text[512];

	snprintf(path, sizeof(path), "%s/%d", root, pid);
	assert_int_equal(mkdir(path, 0755), 0);
	snprintf(text, sizeof(text),
		 "%d (%s) S %d 1 1 0 -1 4194560 100 0 0 0 5 3 0 0 20 0 1 0 %d 7000000 600\n", pid,
		 strrchr(exe, '/') + 1, ppid, 1000 + pid);
	put(root, pid, "stat", text, strlen(text));
	snprintf(text, sizeof(text), "Name:\tx\nUid:\t%u\t%u\t%u\t%u\n", uid, uid, uid, uid);
	put(root, pid, "status", text, strlen(text));
	put(root, pid, "cgroup", "0::/test.slice/a.scope\n", 23);
	put(root, pid, "cmdline", argv, argvlen);
	snprintf(path, sizeof(path), "%s/%d/exe", root, pid);
	assert_int_equal(symlink(exe, path), 0);
}

static int fake_setup(void **state)
{
	struct fake *f = calloc(1, sizeof(*f));
	struct target_policy policy = {0};

	if (!f)
		return -1;
	snprintf(f->root, sizeof(f->root), "/tmp/kvscope-disc-XXXXXX");
	if (!mkdtemp(f->root) || catalog__load(&f->cat, NULL, false))
		return -1;
	f->bc = binary_cache__new(&f->cat);
	target_table__init(&f->table, 4);
	/* only uid 4242 may be watched, and only names infra* */
	f->uids[0] = 4242;
	f->names[0] = "infra*";
	policy.uids = f->uids;
	policy.nuids = 1;
	policy.name_globs = f->names;
	policy.nname = 1;
	discovery__init(&f->d, &f->table, &f->cat, f->bc, NULL, f->root, &policy);
	*state = f;
	return 0;
}

static int fake_teardown(void **state)
{
	struct fake *f = *state;
	char cmd[128];

	discovery__close(&f->d);
	target_table__free(&f->table);
	binary_cache__free(f->bc);
	catalog__free(&f->cat);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->root);
	if (system(cmd) != 0)
		return -1;
	free(f);
	return 0;
}

#define ARGV(s) (s), sizeof(s)

static void test_outside_policy_never_takes_a_slot(void **state)
{
	struct fake *f = *state;

	if (access(ETCD, R_OK) != 0)
		fail_msg("%s is missing: make deps installs it", ETCD);
	/* store binaries, each outside the policy in one way */
	fake_process(f->root, 101, 1, ETCD, 1000, ARGV("etcd\0--name=infra1"));
	fake_process(f->root, 102, 1, ETCD, 4242, ARGV("etcd\0--name=other"));
	fake_process(f->root, 103, 1, TRUE, 4242, ARGV("true\0--name=infra3"));
	discovery__scan(&f->d);
	assert_int_equal(slots__used(&f->table), 0);
	for (int i = 0; i < ATTACH_ERR_COUNT; i++)
		assert_int_equal(f->table.attach_errors[i], 0);
	/* each was looked at once: the next scan skips them */
	assert_true(pidset__mark(&f->d.seen, 101));
	assert_true(pidset__mark(&f->d.seen, 103));
	assert_int_equal(f->d.seen.count, 3);
	/* a pid that left /proc leaves the set */
	char cmd[160];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s/102'", f->root);
	assert_int_equal(system(cmd), 0);
	discovery__scan(&f->d);
	assert_int_equal(f->d.seen.count, 2);
	assert_false(pidset__mark(&f->d.seen, 102));
}

/* A target put in place by hand (attaching needs the kernel). */
static int fake_target(struct fake *f, const char *name, pid_t pid, uint64_t seen_ns)
{
	const struct target_identity id = {.uid = 4242, .exe = ETCD, .cgroup = "/test.slice"};
	char out[TARGET_NAME_LEN];
	int slot;

	assert_int_equal(slots__claim(&f->table, name, &id, pid, &slot, out), CLAIM_NEW);
	assert_int_equal(slots__occupy(&f->table, slot, out, &id, pid, 1000 + (uint64_t)pid), 0);
	f->table.slots[slot].seen_ns = seen_ns;
	f->table.slots[slot].profile = f->cat.profiles[0];
	return slot;
}

static void test_events_and_reclaim(void **state)
{
	struct fake *f = *state;
	int a = fake_target(f, "infra-a", 201, 5000);
	int b = fake_target(f, "infra-b", 202, 5000);

	struct kvs_proc_event e = {.pid = 202, .kind = KVS_PROC_EXEC, .ts_ns = 4999};

	/* events from before the look at /proc are stale */
	discovery__exit(&f->d, 201, 4000);
	discovery__exec(&f->d, &e);
	assert_true(f->table.slots[a].alive && f->table.slots[b].alive);
	/* news: the exit lets go; the exec of a target lets go too (pid 202
	 * is not in this procfs, so nothing takes its place) */
	discovery__exit(&f->d, 201, 6000);
	e.ts_ns = 6000;
	discovery__exec(&f->d, &e);
	assert_false(f->table.slots[a].alive);
	assert_false(f->table.slots[b].alive);
	assert_true(f->table.slots[a].used && f->table.slots[b].used);
	/* slots come back only after `after` seconds gone */
	assert_int_equal(discovery__reclaim(&f->d, f->table.slots[a].gone_at + 0.5, 1.0), 0);
	assert_int_equal(discovery__reclaim(&f->d, f->table.slots[b].gone_at + 1.0, 1.0), 2);
	assert_int_equal(slots__used(&f->table), 0);
	assert_int_equal(f->table.reclaimed, 2);
}

static void test_fork_of_a_target_is_not_a_target(void **state)
{
	struct fake *f = *state;

	if (access(ETCD, R_OK) != 0)
		fail_msg("%s is missing: make deps installs it", ETCD);
	fake_process(f->root, 301, 1, ETCD, 4242, ARGV("etcd\0--name=infra-p"));
	fake_target(f, "infra-p", 301, 1);
	pidset__add(&f->d.seen, 301); /* as if found when it exec'd */
	/* a fork of the target (same binary, not exec'd since) is skipped
	 * before its binary is even looked at, so nothing is reported */
	fake_process(f->root, 302, 301, ETCD, 4242, ARGV("etcd\0--name=infra-p"));
	discovery__scan(&f->d);
	assert_int_equal(slots__used(&f->table), 1);
	assert_true(f->table.slots[0].alive);
	assert_true(pidset__mark(&f->d.seen, 302));
	for (int i = 0; i < ATTACH_ERR_COUNT; i++)
		assert_int_equal(f->table.attach_errors[i], 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_policy_lists),
	    cmocka_unit_test(test_cgroup_scope),
	    cmocka_unit_test(test_pidset),
	    cmocka_unit_test(test_event_key_matches_stat),
	    cmocka_unit_test_setup_teardown(test_outside_policy_never_takes_a_slot, fake_setup,
					    fake_teardown),
	    cmocka_unit_test_setup_teardown(test_events_and_reclaim, fake_setup, fake_teardown),
	    cmocka_unit_test_setup_teardown(test_fork_of_a_target_is_not_a_target, fake_setup,
					    fake_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
