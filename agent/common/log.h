/* SPDX-License-Identifier: Apache-2.0 */
#ifndef KVSCOPE_LOG_H
#define KVSCOPE_LOG_H

#include <stdbool.h>

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };
enum log_format { LOG_LOGFMT, LOG_JSON };

int log_parse_level(const char *s, enum log_level *out);
int log_parse_format(const char *s, enum log_format *out);
void log_setup(enum log_level level, enum log_format format);

/*
 * One line per event: `msg` is a fixed message; the optional key/value
 * pairs follow as const char * and end with NULL, e.g.
 * log_msg(LOG_INFO, "attached", "target", name, "pid", pidstr, NULL);
 */
void log_msg(enum log_level level, const char *msg, ...) __attribute__((sentinel));

#endif
