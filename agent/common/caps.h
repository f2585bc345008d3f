/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Least privilege: once the BPF objects are loaded and the endpoint is
 * bound, the agent keeps only what attaching to new targets needs.
 */
#ifndef KVSCOPE_CAPS_H
#define KVSCOPE_CAPS_H

#include <stddef.h>
#include <sys/capability.h>

/*
 * Sets PR_SET_NO_NEW_PRIVS and drops every capability but `keep` from the
 * bounding, inheritable and ambient sets and from the effective and
 * permitted ones. A capability in `keep` the process does not hold is
 * skipped (it could not be gained anyway). Capabilities are per thread:
 * call this before any thread is started. 0, or -1 with a reason in err.
 */
int caps__drop_to(const cap_value_t *keep, int n, char *err, size_t errlen);

/*
 * Clears every capability of the calling thread only (effective, permitted,
 * inheritable; ambient goes with them): threads it starts afterwards hold
 * none either, and no exec can give them back under no-new-privileges.
 * 0, or -1 with a reason in err.
 */
int caps__drop_thread(char *err, size_t errlen);

/*
 * What the running agent needs to attach uprobes to targets found later and
 * to read their /proc entries; sets *n.
 */
const cap_value_t *caps__required(int *n);

#endif
