/* SPDX-License-Identifier: Apache-2.0 */
/* The one way parsers report a failure: a one-line reason, and -1. */
#ifndef KVSCOPE_ERRMSG_H
#define KVSCOPE_ERRMSG_H

#include <stddef.h>

/* Writes the reason into err (when err and errlen allow) and returns -1. */
int errmsg(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
