/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Store profiles: what a store's binary looks like, which of its functions to
 * probe, what each probe means and where its values live. The engine holds
 * no store's names; everything store-specific is in a profile (YAML).
 * The format is documented in profiles/README.md.
 */
#ifndef KVSCOPE_PROFILE_H
#define KVSCOPE_PROFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/types.h>

#include "kvscope.h"

#define PROFILE_FORMAT_VERSION 1
#define PROFILE_MAX_PROBES     128
#define PROFILE_MAX_FILE_RULES 16

enum profile_lang { PROFILE_LANG_GO, PROFILE_LANG_C };

enum profile_site_kind {
	PROFILE_SITE_ENTRY,	  /* cheapest instruction every call passes */
	PROFILE_SITE_RET,	  /* every RET (uretprobe-like, C only where stacks stay) */
	PROFILE_SITE_CALL_RETURN, /* after each direct call to `callee` in `function` */
	PROFILE_SITE_OFFSET,	  /* a fixed offset into the function */
	PROFILE_SITE_RETURN,	  /* a uretprobe: where the function returns (C only) */
};

struct profile_probe {
	char *function; /* symbol name as the binary spells it */
	int line;	/* line in the profile, for messages */
	enum profile_site_kind site;
	char *callee;	 /* PROFILE_SITE_CALL_RETURN */
	uint64_t offset; /* PROFILE_SITE_OFFSET */
	enum kvs_role role;
	int label;	/* method (requests) or operation (storage) index; -1 none */
	bool has_value; /* request_end: code; storage_op: error; leader_change: cond */
	struct kvs_read value;
	int nreads; /* gauges */
	struct kvs_read reads[KVS_MAX_READS];
};

/* A glob of up to three path components (agent/disk.c) and the class it gives. */
struct profile_file_rule {
	char *glob;
	char *class; /* "wal", "db", "snap", ... */
};

struct profile {
	char *source; /* file path, or "builtin:<name>" */
	char *name;   /* profile name, e.g. "etcd-3.4" */
	char *store;  /* store name for kvscope_target_info, e.g. "etcd" */
	enum profile_lang lang;

	/* match */
	char *go_module;     /* buildinfo main module path must equal this (Go) */
	char *version_regex; /* the version read must match (ERE), optional */
	char **symbols;	     /* functions that must all exist (C stores, or extra checks) */
	int nsymbols;

	/* how to read the store's version: a Go string variable, or a C string, matching an ERE */
	char *version_go_string;
	char *version_c_string;

	/* target naming: value of a command-line flag, else an environment variable */
	char *name_flag; /* "--name": matches "--name X" and "--name=X" */
	char *name_env;	 /* "ETCD_NAME" */

	char **methods; /* bounded request method labels; index = label id */
	int nmethods;
	char **operations; /* bounded storage operation labels */
	int noperations;

	/* status code read at request end -> HTTP-style status label */
	int status_map[KVS_MAX_CODES]; /* 0 = not mapped: use status_default */
	int status_default;
	/* error words of a reply (status.words): word i has code i + 1 */
	char **status_words;
	int nstatus_words;
	int bare_error_code; /* code of an error reply without a word; 0 = none */

	/* files (relative to the process's working directory) whose sizes sum to storage_size */
	char **size_files;
	int nsize_files;

	uint64_t raft_leader_state; /* raft_state gauge value that means "leader" */
	bool has_raft;

	struct profile_file_rule files[PROFILE_MAX_FILE_RULES];
	int nfiles;

	struct profile_probe probes[PROFILE_MAX_PROBES];
	int nprobes;
};

/*
 * Parses a profile. On error returns -1 and writes "SOURCE:LINE: reason"
 * into err; nothing is allocated then. `source` names the text in messages.
 */
int profile__parse(const char *text, size_t len, const char *source, struct profile **out,
		   char *err, size_t errlen);
int profile__load(const char *path, struct profile **out, char *err, size_t errlen);
void profile__free(struct profile *p);

/* Register name ("rax", "r14", ...) to enum kvs_reg; -1 when unknown. */
int profile_reg_from_name(const char *name);
const char *profile_reg_name(int reg);
const char *profile_role_name(enum kvs_role role);
const char *profile_gauge_name(enum kvs_gauge gauge);

/* The method label unlisted names fall into ("other"), -1 when the profile has none. */
int profile__other_method(const struct profile *p);

/* Label index of a method/operation, -1 when not in the profile. */
int profile__method(const struct profile *p, const char *name);
int profile__operation(const struct profile *p, const char *name);

#endif
