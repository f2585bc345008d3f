/* SPDX-License-Identifier: Apache-2.0 */
#ifndef KVSCOPE_COLLECTOR_DISK_H
#define KVSCOPE_COLLECTOR_DISK_H

#include "metrics/collector.h"

/* The disk families; called with the target table locked. */
void collector_disk__write(const struct collector *c, struct expo *out);

#endif
