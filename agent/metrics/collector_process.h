/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Each store process's own resource use, read from /proc at scrape time with
 * no probe: the process_* metrics a store exports, per target.
 */
#ifndef KVSCOPE_COLLECTOR_PROCESS_H
#define KVSCOPE_COLLECTOR_PROCESS_H

#include "metrics/collector.h"

/* kvstore_process_{cpu_seconds_total,resident_memory_bytes,open_fds}; caller holds the lock. */
void collector_process__write(const struct collector *c, struct expo *out);

#endif
