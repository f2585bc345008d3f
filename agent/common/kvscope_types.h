/* SPDX-License-Identifier: Apache-2.0 */
/* The shared BPF header, with the kernel's fixed-width types it expects. */
#ifndef KVSCOPE_TYPES_H
#define KVSCOPE_TYPES_H

#include <linux/types.h>

#include "kvscope.h"

#endif
