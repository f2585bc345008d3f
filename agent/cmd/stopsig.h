/* SPDX-License-Identifier: Apache-2.0 */
/* SIGINT and SIGTERM end a command's loop; the loop polls for them. */
#ifndef KVSCOPE_STOPSIG_H
#define KVSCOPE_STOPSIG_H

#include <stdbool.h>

/* Handlers without SA_RESTART (a signal cuts poll and nanosleep short); ignores SIGPIPE. */
void stopsig__install(void);
bool stopsig__requested(void);
/* Threads created while blocked inherit it, so the signals reach the main thread. */
void stopsig__block(bool block);

#endif
