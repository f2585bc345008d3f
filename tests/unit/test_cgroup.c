// SPDX-License-Identifier: Apache-2.0
/*
 * Container IDs from /proc/PID/cgroup: every runtime's path layout under
 * cgroupfs and systemd drivers, cgroup v1, v2 and hybrid files, paths seen
 * from another cgroup namespace, and what must not count as a container.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "discover/cgroup.h"

#define ID_A   "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define ID_B   "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"
#define POD    "pod1f2e3d4c-5b6a-7980-a1b2-c3d4e5f60718"
#define POD_SD "pod1f2e3d4c_5b6a_7980_a1b2_c3d4e5f60718"

static const struct {
	const char *what;
	const char *text;
	const char *id; /* NULL: no container */
	const char *runtime;
} cases[] = {
    /* podman, as on the test host: cgroup v1 controllers plus a v2 mount */
    {"podman cgroupfs hybrid",
     "9:name=systemd:/libpod_parent/libpod-" ID_A "\n4:memory:/libpod_parent/libpod-" ID_A
     "\n0::/libpod_parent/libpod-" ID_A "\n",
     ID_A, "podman"},
    {"podman systemd v2", "0::/machine.slice/libpod-" ID_A ".scope\n", ID_A, "podman"},
    {"podman systemd v2, split cgroups", "0::/machine.slice/libpod-" ID_A ".scope/container\n",
     ID_A, "podman"},
    {"podman rootless",
     "0::/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-" ID_A ".scope\n", ID_A,
     "podman"},
    {"podman's monitor is no container", "0::/machine.slice/libpod-conmon-" ID_A ".scope\n", NULL,
     NULL},
    /* docker */
    {"docker cgroupfs v1", "12:pids:/docker/" ID_A "\n1:name=systemd:/docker/" ID_A "\n", ID_A,
     "docker"},
    {"docker systemd v2", "0::/system.slice/docker-" ID_A ".scope\n", ID_A, "docker"},
    {"docker in docker: the inner one", "0::/docker/" ID_B "/docker/" ID_A "\n", ID_A, "docker"},
    /* Kubernetes with containerd */
    {"containerd systemd v2",
     "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-" POD_SD
     ".slice/cri-containerd-" ID_A ".scope\n",
     ID_A, "containerd"},
    {"containerd cgroupfs v1 (runtime unknown)", "11:memory:/kubepods/burstable/" POD "/" ID_A "\n",
     ID_A, ""},
    {"guaranteed QoS cgroupfs v2", "0::/kubepods/" POD "/" ID_A "\n", ID_A, ""},
    /* Kubernetes with CRI-O */
    {"cri-o systemd v2",
     "0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-" POD_SD ".slice/crio-" ID_A
     ".scope\n",
     ID_A, "cri-o"},
    {"cri-o cgroupfs v1", "3:cpu,cpuacct:/kubepods/besteffort/" POD "/crio-" ID_A "\n", ID_A,
     "cri-o"},
    {"cri-o's monitor is no container",
     "0::/kubepods.slice/kubepods-besteffort.slice/crio-conmon-" ID_A ".scope\n", NULL, NULL},
    /* seen from a container with its own cgroup namespace */
    {"another container, from a private cgroup namespace", "0::/../libpod-" ID_A "\n", ID_A,
     "podman"},
    {"a sibling pod, from a private cgroup namespace",
     "0::/../../kubepods-besteffort-" POD_SD ".slice/cri-containerd-" ID_A ".scope\n", ID_A,
     "containerd"},
    /* the unified line wins over v1 lines that disagree */
    {"v2 line first", "4:memory:/docker/" ID_B "\n0::/system.slice/docker-" ID_A ".scope\n", ID_A,
     "docker"},
    {"v1 line when v2 names none", "4:memory:/docker/" ID_B "\n0::/\n", ID_B, "docker"},
    /* no final newline */
    {"no final newline", "0::/machine.slice/libpod-" ID_A ".scope", ID_A, "podman"},
    /* host processes and near misses */
    {"host process, v2", "0::/\n", NULL, NULL},
    {"host process, systemd", "0::/system.slice/etcd.service\n", NULL, NULL},
    {"host process, hybrid", "9:name=systemd:/\n4:memory:/process_api/76db642df26147fa\n0::/\n",
     NULL, NULL},
    {"63 hex digits",
     "0::/docker/"
     "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde\n",
     NULL, NULL},
    {"65 hex digits", "0::/docker/" ID_A "0\n", NULL, NULL},
    {"upper-case hex",
     "0::/docker/0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef\n", NULL, NULL},
    {"unknown prefix", "0::/system.slice/rkt-" ID_A ".scope\n", NULL, NULL},
    {"ID in the controller field only", "4:" ID_A ":/\n", NULL, NULL},
    {"malformed line", "libpod-" ID_A "\n", NULL, NULL},
    {"empty", "", NULL, NULL},
};

static void test_layouts(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t len = strlen(cases[i].text);
		/* an exact-size heap copy, no NUL: the sanitizer sees any over-read */
		char *buf = malloc(len ? len : 1);
		struct container_ref ref;

		assert_non_null(buf);
		memcpy(buf, cases[i].text, len);
		int rc = cgroup__container_id(buf, len, &ref);

		if (cases[i].id) {
			if (rc != 0)
				fail_msg("%s: no container found", cases[i].what);
			assert_string_equal(ref.id, cases[i].id);
			assert_string_equal(ref.runtime, cases[i].runtime);
		} else if (rc != -1) {
			fail_msg("%s: found %s", cases[i].what, ref.id);
		}
		free(buf);
	}
}

static void test_null_arguments(void **state)
{
	struct container_ref ref;

	(void)state;
	assert_int_equal(cgroup__container_id(NULL, 0, &ref), -1);
	assert_int_equal(cgroup__container_id("0::/docker/" ID_A, 75, NULL), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_layouts),
	    cmocka_unit_test(test_null_arguments),
	};

	return cmocka_run_group_tests_name("cgroup", tests, NULL, NULL);
}
