#!/usr/bin/env bash
# Runs each cmocka test binary, then lints every golden exposition
# (tests/unit/golden/*.prom) with promtool, and closes with one line for all
# of them: `unit: N passed, N failed, N skipped`. A skipped test fails the run
# unless tests/SKIPS lists it as BINARY/TEST with a reason: a test that skips
# in silence tests nothing.
set -u
here=$(dirname "$0")
skips_file=$here/SKIPS
passed=0 failed=0 skipped=0 failed_bins=()

# The reason tests/SKIPS gives for test $1 (BINARY/TEST); empty when none.
skip_reason() {
	[ -f "$skips_file" ] || return 0
	awk -v id="$1" '$1 == id { $1 = ""; sub(/^ +/, ""); sub(/ *#.*/, ""); print; exit }' "$skips_file"
}

# The names cmocka reports with tag $2 ("SKIPPED", "FAILED") in output $1,
# once each (its summary lists them a second time).
tests_tagged() {
	printf '%s\n' "$1" | sed -n "s/^\[  $2 *\] \([^ ]*\)\$/\1/p" | sort -u
}

for t in "$@"; do
	bin=$(basename "$t")
	out=$("$t" 2>&1)
	rc=$?
	p=$(printf '%s\n' "$out" | sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' | awk '{s += $1} END {print s + 0}')
	f=$(tests_tagged "$out" FAILED | grep -c .)
	bad_skips=()
	while read -r name; do
		[ -n "$name" ] || continue
		reason=$(skip_reason "$bin/$name")
		if [ -n "$reason" ]; then
			skipped=$((skipped + 1))
			echo "$bin/$name skipped (allowed: $reason)"
		else
			bad_skips+=("$name")
		fi
	done <<<"$(tests_tagged "$out" SKIPPED)"
	[ "$rc" -eq 0 ] || [ "$f" -gt 0 ] || f=1 # crashed before its summary
	f=$((f + ${#bad_skips[@]}))
	passed=$((passed + p))
	failed=$((failed + f))
	if [ "$f" -gt 0 ]; then
		printf '%s\n' "$out"
		for name in "${bad_skips[@]}"; do
			echo "$bin/$name skipped, and $skips_file does not allow it"
		done
		failed_bins+=("$bin")
	else
		printf '%-28s %s passed\n' "$bin" "$p"
	fi
done

# The goldens are what /metrics serves: each must pass promtool's lint.
for g in "$here"/unit/golden/*.prom; do
	if lint=$(promtool check metrics <"$g" 2>&1) && [ -z "$lint" ]; then
		passed=$((passed + 1))
		printf '%-28s promtool check metrics: ok\n' "golden/$(basename "$g")"
	else
		failed=$((failed + 1))
		printf '%s\n' "$lint"
		failed_bins+=("promtool:golden/$(basename "$g")")
	fi
done
[ "${#failed_bins[@]}" -eq 0 ] || echo "failing: ${failed_bins[*]}"
echo "unit: $passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
