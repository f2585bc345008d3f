// SPDX-License-Identifier: Apache-2.0
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/utf8.h"
#include "discover/slots.h"

void target_table__init(struct target_table *t, int max_targets)
{
	memset(t, 0, sizeof(*t));
	pthread_mutex_init(&t->lock, NULL);
	t->max_targets =
	    max_targets > 0 && max_targets <= KVS_MAX_TARGETS ? max_targets : KVS_MAX_TARGETS;
}

void target_table__free(struct target_table *t)
{
	for (int i = 0; i < KVS_MAX_TARGETS; i++)
		slots__release(t, i);
}

void slots__name(const char *raw, char out[TARGET_NAME_LEN])
{
	utf8_clean(raw, out, TARGET_NAME_LEN);
}

void slots__suffixed(const char *name, pid_t pid, char out[TARGET_NAME_LEN])
{
	char suffix[16];
	int slen = snprintf(suffix, sizeof(suffix), "-%d", (int)pid);
	size_t keep = utf8_prefix(name, TARGET_NAME_LEN - 1 - (size_t)slen);

	memcpy(out, name, keep);
	memcpy(out + keep, suffix, (size_t)slen + 1);
}

static bool same_str(const char *a, const char *b)
{
	return strcmp(a ? a : "", b ? b : "") == 0;
}

bool slots__same_identity(const struct target *tg, const struct target_identity *id)
{
	return tg->uid == id->uid && same_str(tg->exe, id->exe) && same_str(tg->cgroup, id->cgroup);
}

static int find_name(const struct target_table *t, const char *name)
{
	for (int i = 0; i < KVS_MAX_TARGETS; i++) {
		if (t->slots[i].used && strcmp(t->slots[i].name, name) == 0)
			return i;
	}
	return -1;
}

int slots__used(const struct target_table *t)
{
	int used = 0;

	for (int i = 0; i < KVS_MAX_TARGETS; i++)
		used += t->slots[i].used;
	return used;
}

static int free_slot(const struct target_table *t)
{
	if (slots__used(t) >= t->max_targets)
		return -1;
	for (int i = 0; i < KVS_MAX_TARGETS; i++) {
		if (!t->slots[i].used)
			return i;
	}
	return -1;
}

enum slot_claim slots__claim(const struct target_table *t, const char *raw,
			     const struct target_identity *id, pid_t pid, int *slot,
			     char name[TARGET_NAME_LEN])
{
	char cand[2][TARGET_NAME_LEN];

	slots__name(raw, cand[0]);
	slots__suffixed(cand[0], pid, cand[1]);
	for (int k = 0; k < 2; k++) {
		int i = find_name(t, cand[k]);

		if (i < 0) {
			*slot = free_slot(t);
			if (*slot < 0)
				return CLAIM_FULL;
			memcpy(name, cand[k], TARGET_NAME_LEN);
			return CLAIM_NEW;
		}
		if (!t->slots[i].alive && slots__same_identity(&t->slots[i], id)) {
			*slot = i;
			memcpy(name, cand[k], TARGET_NAME_LEN);
			return CLAIM_RESUMED;
		}
	}
	return CLAIM_NAME_TAKEN;
}

int slots__occupy(struct target_table *t, int slot, const char *name,
		  const struct target_identity *id, pid_t pid, uint64_t start_time)
{
	struct target *tg = &t->slots[slot];
	char *exe = strdup(id->exe ? id->exe : ""), *cgroup = strdup(id->cgroup ? id->cgroup : "");

	if (!exe || !cgroup) {
		free(exe);
		free(cgroup);
		return -1;
	}
	free(tg->exe);
	free(tg->cgroup);
	tg->used = true;
	snprintf(tg->name, sizeof(tg->name), "%s", name);
	tg->uid = id->uid;
	tg->exe = exe;
	tg->cgroup = cgroup;
	tg->pid = pid;
	tg->start_time = start_time;
	tg->alive = true;
	tg->gone_at = 0;
	return 0;
}

void slots__gone(struct target_table *t, int slot, double now)
{
	t->slots[slot].alive = false;
	t->slots[slot].attached = false;
	t->slots[slot].gone_at = now;
}

int slots__expired(const struct target_table *t, double now, double after)
{
	for (int i = 0; i < KVS_MAX_TARGETS; i++) {
		const struct target *tg = &t->slots[i];

		if (tg->used && !tg->alive && now - tg->gone_at >= after)
			return i;
	}
	return -1;
}

void slots__release(struct target_table *t, int slot)
{
	struct target *tg = &t->slots[slot];

	free(tg->exe);
	free(tg->cgroup);
	memset(tg, 0, sizeof(*tg));
}

int slots__find_alive(const struct target_table *t, pid_t pid)
{
	for (int i = 0; i < KVS_MAX_TARGETS; i++) {
		if (t->slots[i].used && t->slots[i].alive && t->slots[i].pid == pid)
			return i;
	}
	return -1;
}
