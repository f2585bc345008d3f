// SPDX-License-Identifier: Apache-2.0
/* Container IDs from cgroup paths (see cgroup.h for the layouts). */
#include "discover/cgroup.h"

#include <stdbool.h>
#include <string.h>

/* Prefixes of a container's own cgroup; a monitor's ("libpod-conmon-") never match. */
static const struct {
	const char *prefix;
	const char *runtime;
} prefixes[] = {
    {"docker-", "docker"},
    {"libpod-", "podman"},
    {"cri-containerd-", "containerd"},
    {"crio-", "cri-o"},
};

static bool is_id(const char *s, size_t len)
{
	if (len != CGROUP_ID_LEN)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	}
	return true;
}

/* One path component, ".scope" stripped: the ID and runtime it names, if any. */
static bool component_id(const char *c, size_t len, const char *parent, size_t parent_len,
			 struct container_ref *out)
{
	static const char scope[] = ".scope";
	const char *runtime = NULL;

	if (len > sizeof(scope) - 1 &&
	    memcmp(c + len - (sizeof(scope) - 1), scope, sizeof(scope) - 1) == 0)
		len -= sizeof(scope) - 1;
	for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]) && !runtime; i++) {
		size_t n = strlen(prefixes[i].prefix);

		if (len > n && memcmp(c, prefixes[i].prefix, n) == 0 && is_id(c + n, len - n)) {
			runtime = prefixes[i].runtime;
			c += n;
			len -= n;
		}
	}
	if (!runtime && is_id(c, len))
		runtime = parent_len == 6 && memcmp(parent, "docker", 6) == 0 ? "docker" : "";
	if (!runtime)
		return false;
	memcpy(out->id, c, CGROUP_ID_LEN);
	out->id[CGROUP_ID_LEN] = '\0';
	out->runtime = runtime;
	return true;
}

/* The innermost container a path names: its components, last first. */
static bool path_id(const char *p, size_t len, struct container_ref *out)
{
	size_t end = len;

	while (end > 0) {
		size_t start = end;

		while (start > 0 && p[start - 1] != '/')
			start--;
		size_t pend = start ? start - 1 : 0, pstart = pend;

		while (pstart > 0 && p[pstart - 1] != '/')
			pstart--;
		if (end > start &&
		    component_id(p + start, end - start, p + pstart, pend - pstart, out))
			return true;
		end = start ? start - 1 : 0;
	}
	return false;
}

/* The path of one "ID:controllers:path" line, or NULL if malformed. */
static const char *line_path(const char *line, size_t len, size_t *path_len, bool *unified)
{
	const char *c1 = memchr(line, ':', len);
	const char *c2 = c1 ? memchr(c1 + 1, ':', len - (size_t)(c1 + 1 - line)) : NULL;

	if (!c2)
		return NULL;
	*unified = c1 - line == 1 && line[0] == '0' && c2 == c1 + 1;
	*path_len = len - (size_t)(c2 + 1 - line);
	return c2 + 1;
}

/* Pass 1 reads the unified line only, pass 2 the v1 lines. */
static bool scan(const char *text, size_t len, bool want_unified, struct container_ref *out)
{
	const char *p = text, *end = text + len;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t line_len = nl ? (size_t)(nl - p) : (size_t)(end - p), path_len;
		bool unified;
		const char *path = line_path(p, line_len, &path_len, &unified);

		if (path && unified == want_unified && path_id(path, path_len, out))
			return true;
		p += line_len + 1;
	}
	return false;
}

int cgroup__container_id(const char *text, size_t len, struct container_ref *out)
{
	if (!text || !out)
		return -1;
	if (scan(text, len, true, out) || scan(text, len, false, out))
		return 0;
	return -1;
}
