#!/usr/bin/env bash
# Runs each cmocka test binary and prints one closing line for all of them.
set -u
passed=0 failed=0 failed_bins=()
for t in "$@"; do
	out=$("$t" 2>&1)
	rc=$?
	p=$(printf '%s\n' "$out" | sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' | tail -1)
	f=$(printf '%s\n' "$out" | sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' | tail -1)
	passed=$((passed + ${p:-0}))
	if [ "$rc" -ne 0 ]; then
		printf '%s\n' "$out"
		failed=$((failed + ${f:-1}))
		failed_bins+=("$(basename "$t")")
	else
		printf '%-28s %s passed\n' "$(basename "$t")" "${p:-0}"
	fi
done
[ "${#failed_bins[@]}" -eq 0 ] || echo "failing: ${failed_bins[*]}"
echo "unit: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
