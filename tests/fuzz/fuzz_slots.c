// SPDX-License-Identifier: Apache-2.0
/*
 * The target table under any sequence of processes: names of any bytes
 * (a tenant's --name), identities that differ or not, exits, reclaims. After
 * every step: each used slot's name is valid UTF-8 that fits, no two used
 * slots share a name, no more slots are used than allowed, a live pid holds
 * at most one slot, and every claim returns (no loop).
 */
#include <stdint.h>
#include <string.h>

#include "fuzz_util.h"
#include "common/utf8.h"
#include "discover/slots.h"

static const char *const exes[] = {"/usr/bin/etcd", "/tmp/etcd", "/usr/bin/redis-server"};
static const char *const cgroups[] = {"/", "/kubepods/pod1", "/user.slice"};

static void check_table(const struct target_table *t)
{
	int used = 0;

	for (int i = 0; i < KVS_MAX_TARGETS; i++) {
		const struct target *a = &t->slots[i];
		size_t len;

		if (!a->used)
			continue;
		used++;
		len = strnlen(a->name, TARGET_NAME_LEN);
		if (len >= TARGET_NAME_LEN || !utf8_valid(a->name, len))
			__builtin_trap();
		for (int j = i + 1; j < KVS_MAX_TARGETS; j++) {
			const struct target *b = &t->slots[j];

			if (b->used && strcmp(a->name, b->name) == 0)
				__builtin_trap();
			if (b->used && a->alive && b->alive && a->pid == b->pid)
				__builtin_trap();
		}
	}
	if (used > t->max_targets)
		__builtin_trap();
}

/* A name of up to 80 input bytes, NUL-terminated. */
static void take_name(const uint8_t **data, size_t *size, char *out)
{
	size_t n = (size_t)fuzz_take_le(data, size, 1) % 81;

	if (n > *size)
		n = *size;
	memcpy(out, *data, n);
	out[n] = '\0';
	*data += n;
	*size -= n;
}

static void step(struct target_table *t, const uint8_t **data, size_t *size, double *now)
{
	unsigned op = (unsigned)fuzz_take_le(data, size, 1);
	char raw[96], name[TARGET_NAME_LEN];
	int slot = -1;

	switch (op % 4) {
	case 0:
	case 1: {
		unsigned who = (unsigned)fuzz_take_le(data, size, 1);
		pid_t pid = (pid_t)(fuzz_take_le(data, size, 4) % 0x3fffffff) + 1;
		const struct target_identity id = {.uid = who & 1 ? 1000 : 0,
						   .exe = exes[(who >> 1) % 3],
						   .cgroup = cgroups[(who >> 3) % 3]};
		enum slot_claim c;

		take_name(data, size, raw);
		if (slots__find_alive(t, pid) >= 0)
			return; /* discovery never claims for a pid it holds */
		c = slots__claim(t, raw, &id, pid, &slot, name);
		if ((c == CLAIM_NEW || c == CLAIM_RESUMED) &&
		    slots__occupy(t, slot, name, &id, pid, 1) != 0)
			abort();
		return;
	}
	case 2:
		slot = (int)(fuzz_take_le(data, size, 1) % KVS_MAX_TARGETS);
		if (t->slots[slot].used && t->slots[slot].alive)
			slots__gone(t, slot, *now);
		return;
	default:
		*now += (double)fuzz_take_le(data, size, 1);
		while ((slot = slots__expired(t, *now, 60)) >= 0) {
			if (t->slots[slot].alive || *now - t->slots[slot].gone_at < 60)
				__builtin_trap();
			slots__release(t, slot);
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct target_table t;
	double now = 0;

	target_table__init(&t, (int)(fuzz_take_le(&data, &size, 1) % 8) + 1);
	for (int steps = 0; size > 0 && steps < 400; steps++) {
		step(&t, &data, &size, &now);
		check_table(&t);
	}
	target_table__free(&t);
	pthread_mutex_destroy(&t.lock);
	return 0;
}
