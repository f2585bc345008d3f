/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Examining a binary in a child process: the parsing of a file any tenant
 * may have written (libelf, the pclntab, capstone, regexes over its
 * strings) runs where a bug can use no capability and can take down only
 * the child. The child is forked, drops every capability, closes every
 * descriptor but the binary's and its result pipe, and runs under
 * RLIMIT_CPU and RLIMIT_AS (the address space it had plus
 * EXAMINER_MEMORY). A failure of the child (not a budget refusal, which
 * is the file's own) may be the node's, not the file's: such a refusal is
 * tried again after EXAMINER_RETRY_S. It sends back the verdict and the resolved sites, which the
 * agent checks before use. A child that dies, overruns or sends nonsense
 * gets the binary refused.
 */
#ifndef KVSCOPE_EXAMINER_H
#define KVSCOPE_EXAMINER_H

#include "probes/binary.h"

#define EXAMINER_MEMORY	 (256u << 20)
#define EXAMINER_WALL_S	 30 /* on a loaded node CPU time lags; this is the wall clock's bound */
#define EXAMINER_RETRY_S 60

/*
 * Fills b (verdict, profile, version, sites; not dev/ino/fd) from the file
 * open on fd, in a child (in this process under AddressSanitizer, whose
 * allocator a child forked from a threaded process cannot rely on).
 */
void examiner__run(struct binary *b, const struct catalog *cat, int fd);
/* Always in a child (single-threaded callers, such as the unit tests). */
void examiner__run_forked(struct binary *b, const struct catalog *cat, int fd);

/* For tests: runs in the child, before it examines. */
extern void (*examiner__child_hook)(void);

#endif
