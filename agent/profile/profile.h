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
#define PROFILE_MAX_NAMES      4 /* spellings of one function or module */
#define PROFILE_MAX_STRUCTS    32
#define PROFILE_MAX_FIELDS     32 /* per struct, counting version alternatives */

enum profile_lang { PROFILE_LANG_GO, PROFILE_LANG_C };

enum profile_site_kind {
	PROFILE_SITE_ENTRY,	  /* cheapest instruction every call passes */
	PROFILE_SITE_RET,	  /* every RET (uretprobe-like, C only where stacks stay) */
	PROFILE_SITE_CALL_RETURN, /* after each direct call to `callee` in `function` */
	PROFILE_SITE_RETURN,	  /* a uretprobe: where the function returns (C only) */
};

/* What a read starts from, in the store's terms; where it is, the engine works out. */
enum profile_from {
	PROFILE_FROM_ARG,    /* argument word N of the probed function */
	PROFILE_FROM_RESULT, /* result word N: of the callee (call_return) or the function */
};

/*
 * A value a probe reads: argument or result word `index`, then the fields
 * of `path` (pointers followed, embedded structs added), the last loaded
 * with `size` bytes. probes/place.c turns it into a struct kvs_read for
 * each site of each binary.
 */
struct profile_read {
	enum profile_from from;
	int index;
	char *path; /* "raft.raftLog.committed": a struct, then its fields; NULL: the word */
	int line;
	__u8 size;
	__u8 flags; /* KVS_READ_*: a string, hashed */
	__u8 gauge; /* enum kvs_gauge, for gauge reads */
};

struct profile_probe {
	char *functions[PROFILE_MAX_NAMES]; /* spellings; the first the binary has is used */
	int nfunctions;
	const char *function; /* functions[0], for messages */
	int line;	      /* line in the profile, for messages */
	enum profile_site_kind site;
	char *callees[PROFILE_MAX_NAMES]; /* PROFILE_SITE_CALL_RETURN */
	int ncallees;
	enum kvs_role role;
	int label;	/* method (requests) or operation (storage) index; -1 none */
	bool has_value; /* request_end: code; storage_op: error; leader_change: cond */
	struct profile_read value;
	int nreads; /* gauges */
	struct profile_read reads[KVS_MAX_READS];
};

/*
 * One field of a struct the profile reads through, valid for the store
 * versions [from, to] (dotted versions, either may be open).
 */
struct profile_field {
	char *name;
	int64_t offset;
	char *points_to; /* the struct it points to; NULL for a value or embedded struct */
	char *embeds;	 /* the struct it is (embedded, no pointer to follow) */
	char *from, *to;
};

struct profile_struct {
	char *name;
	struct profile_field fields[PROFILE_MAX_FIELDS];
	int nfields;
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
	char *go_modules[PROFILE_MAX_NAMES]; /* buildinfo main module is one of these (Go) */
	int ngo_modules;
	const char *go_module; /* go_modules[0], for messages */
	char *version_regex;   /* the version read must match (ERE), optional */
	char **symbols;	       /* functions that must all exist (C stores, or extra checks) */
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

	struct profile_struct structs[PROFILE_MAX_STRUCTS];
	int nstructs;

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
const char *profile_gauge_list(void);

/* The method label unlisted names fall into ("other"), -1 when the profile has none. */
int profile__other_method(const struct profile *p);

/* The struct named `name`, or NULL. */
const struct profile_struct *profile__struct(const struct profile *p, const char *name);

/*
 * The pointer hops a read's path makes for a store of version `version`:
 * each entry of deref[] is an offset added before a load (the last is the
 * value's own load). Returns the count (0 for no path), or -1 with a reason.
 */
int profile__path_derefs(const struct profile *p, const char *path, const char *version,
			 int32_t *deref, int max, char *err, size_t errlen);

/* Whether a Go binary's main module is one the profile names. */
bool profile__go_module_matches(const struct profile *p, const char *module);

/* Label index of a method/operation, -1 when not in the profile. */
int profile__method(const struct profile *p, const char *name);
int profile__operation(const struct profile *p, const char *name);

#endif
