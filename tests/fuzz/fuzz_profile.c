// SPDX-License-Identifier: Apache-2.0
/*
 * Store profiles (YAML) from arbitrary text: libyaml's parser and then every
 * check the profile loader makes of the document.
 */
#include <stdint.h>
#include <string.h>

#include "fuzz_util.h"
#include "profile/profile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = fuzz_copy(data, size);
	struct profile *p = NULL;
	char err[512];

	err[0] = '\0';
	if (profile__parse(text, size, "fuzz.yaml", &p, err, sizeof(err)) == 0) {
		if (!p || !p->name || p->nprobes < 0 || p->nprobes > PROFILE_MAX_PROBES)
			__builtin_trap();
		for (int i = 0; i < p->nmethods; i++)
			if (profile__method(p, p->methods[i]) != i)
				__builtin_trap(); /* labels are unique: each finds itself */
		profile__operation(p, "put");
	} else if (p || !err[0] || !memchr(err, '\0', sizeof(err))) {
		__builtin_trap(); /* a rejected profile allocates nothing and says why */
	}
	profile__free(p);
	free(text);
	return 0;
}
