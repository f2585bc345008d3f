// SPDX-License-Identifier: Apache-2.0
/* Names profiles use for registers, probe roles, gauges, methods and operations. */
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "profile/profile.h"

static const char *const reg_names[KVS_REG_COUNT] = {
    [KVS_REG_RAX] = "rax", [KVS_REG_RBX] = "rbx", [KVS_REG_RCX] = "rcx", [KVS_REG_RDX] = "rdx",
    [KVS_REG_RSI] = "rsi", [KVS_REG_RDI] = "rdi", [KVS_REG_RBP] = "rbp", [KVS_REG_RSP] = "rsp",
    [KVS_REG_R8] = "r8",   [KVS_REG_R9] = "r9",	  [KVS_REG_R10] = "r10", [KVS_REG_R11] = "r11",
    [KVS_REG_R12] = "r12", [KVS_REG_R13] = "r13", [KVS_REG_R14] = "r14", [KVS_REG_R15] = "r15",
};

static const char *const role_names[KVS_ROLE_COUNT] = {
    [KVS_ROLE_NONE] = "none",
    [KVS_ROLE_REQUEST_START] = "request_start",
    [KVS_ROLE_REQUEST_END] = "request_end",
    [KVS_ROLE_STORAGE_OP] = "storage_op",
    [KVS_ROLE_GAUGES] = "gauges",
    [KVS_ROLE_LEADER_CHANGE] = "leader_change",
    [KVS_ROLE_REQUEST_ERROR] = "request_error",
};

static const char *const gauge_names[KVS_GAUGE_COUNT] = {
    [KVS_GAUGE_RAFT_TERM] = "raft_term",
    [KVS_GAUGE_RAFT_COMMIT_INDEX] = "raft_commit_index",
    [KVS_GAUGE_RAFT_STATE] = "raft_state",
    [KVS_GAUGE_STORAGE_SIZE] = "storage_size",
    [KVS_GAUGE_RAFT_LEAD] = "raft_lead",
    [KVS_GAUGE_RAFT_APPLIED_INDEX] = "raft_applied_index",
    [KVS_GAUGE_STORAGE_SIZE_IN_USE] = "storage_size_in_use",
    [KVS_GAUGE_CLUSTER_ID] = "cluster_id",
};

/* "raft_term, raft_commit_index, ...": for error messages. */
const char *profile_gauge_list(void)
{
	static char list[256];

	if (!list[0])
		for (int g = 0; g < KVS_GAUGE_COUNT; g++)
			snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s",
				 g ? ", " : "", gauge_names[g]);
	return list;
}

int profile_reg_from_name(const char *name)
{
	if (!name)
		return -1;
	for (int reg = 0; reg < KVS_REG_COUNT; reg++)
		if (strcasecmp(name, reg_names[reg]) == 0)
			return reg;
	return -1;
}

const char *profile_reg_name(int reg)
{
	return reg >= 0 && reg < KVS_REG_COUNT ? reg_names[reg] : NULL;
}

const char *profile_role_name(enum kvs_role role)
{
	return (unsigned)role < KVS_ROLE_COUNT ? role_names[role] : NULL;
}

const char *profile_gauge_name(enum kvs_gauge gauge)
{
	return (unsigned)gauge < KVS_GAUGE_COUNT ? gauge_names[gauge] : NULL;
}

/* A method or operation name -> its label index in this profile, or -1. */
static int find_label(char **labels, int n, const char *name)
{
	if (!name)
		return -1;
	for (int i = 0; i < n; i++)
		if (strcmp(labels[i], name) == 0)
			return i;
	return -1;
}

bool profile__go_module_matches(const struct profile *p, const char *module)
{
	for (int i = 0; p && module && i < p->ngo_modules; i++)
		if (strcmp(p->go_modules[i], module) == 0)
			return true;
	return false;
}

int profile__other_method(const struct profile *p)
{
	return profile__method(p, "other");
}

int profile__method(const struct profile *p, const char *name)
{
	return p ? find_label(p->methods, p->nmethods, name) : -1;
}

int profile__operation(const struct profile *p, const char *name)
{
	return p ? find_label(p->operations, p->noperations, name) : -1;
}
