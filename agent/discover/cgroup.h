/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The container a process runs in, from its cgroup path (/proc/PID/cgroup):
 * a node's containers are recognisable without the Kubernetes API. Pure
 * parsing: the caller reads the file.
 */
#ifndef KVSCOPE_DISCOVER_CGROUP_H
#define KVSCOPE_DISCOVER_CGROUP_H

#include <stddef.h>

#define CGROUP_ID_LEN 64 /* every runtime below names containers by 64 hex digits */

struct container_ref {
	char id[CGROUP_ID_LEN + 1]; /* lower-case hex, NUL-terminated */
	const char *runtime;	    /* "docker", "podman", "containerd", "cri-o", or "" */
};

/*
 * Finds the container in the text of /proc/PID/cgroup (`len` bytes, need not
 * be NUL-terminated). The unified (cgroup v2, "0::") line is read first,
 * then the v1 lines in order; in each path the innermost container wins.
 * Recognised, for cgroupfs and systemd cgroup drivers alike:
 *   docker      /docker/ID                 /system.slice/docker-ID.scope
 *   podman      /libpod_parent/libpod-ID   /machine.slice/libpod-ID.scope[/container]
 *   containerd  /kubepods/.../podUID/ID    /kubepods.slice/...-podUID.slice/cri-containerd-ID.scope
 *   cri-o       /kubepods/.../crio-ID      /kubepods.slice/.../crio-ID.scope
 * A bare ID is reported as runtime "" unless a docker parent names it.
 * Monitor cgroups (libpod-conmon-ID, crio-conmon-ID) are no container.
 * Paths seen from inside another cgroup namespace ("/../../x") work alike.
 * Returns 0 and fills `out`, or -1 when no container is named (a host
 * process, or a layout not listed).
 */
int cgroup__container_id(const char *text, size_t len, struct container_ref *out);

#endif
