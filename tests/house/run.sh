#!/usr/bin/env bash
# The house rules the compiler does not check: the agent's stage folders call
# only down the pipeline (check_layers.py), every Python file passes
# pyflakes, and the C sources are clang-formatted (make check-format).
# Closes with `house: N passed, N failed`.
set -u
cd "$(dirname "$0")/../.." || exit 1
passed=0 failed=0
out=$(mktemp)
trap 'rm -f "$out"' EXIT

# The layer check prints its own `layers: N passed, N failed`.
python3 tests/house/check_layers.py >"$out" 2>&1
rc=$?
grep -v '^layers: ' "$out"
re='^layers: ([0-9]+) passed, ([0-9]+) failed$'
if [[ $(tail -1 "$out") =~ $re ]]; then
	passed=$((passed + BASH_REMATCH[1]))
	failed=$((failed + BASH_REMATCH[2]))
	[ "$rc" -eq 0 ] || [ "${BASH_REMATCH[2]}" -gt 0 ] || failed=$((failed + 1))
else
	echo "FAIL check_layers.py: no closing line (exit $rc)"
	failed=$((failed + 1))
fi
tail -1 "$out"

# pyflakes: one check per Python file in the tree.
py_passed=0 py_failed=0
if ! command -v pyflakes3 >/dev/null; then
	echo "FAIL pyflakes3 missing (apt-get install python3-pyflakes; make deps)"
	py_failed=1
else
	while IFS= read -r -d '' f; do
		if pyflakes3 "$f" >"$out" 2>&1; then
			py_passed=$((py_passed + 1))
		else
			echo "FAIL pyflakes $f"
			sed 's/^/    /' "$out"
			py_failed=$((py_failed + 1))
		fi
	done < <(find . -name '*.py' -not -path './build/*' -not -path './.git/*' -print0 | sort -z)
fi
echo "pyflakes: $py_passed passed, $py_failed failed"
passed=$((passed + py_passed))
failed=$((failed + py_failed))

# clang-format over every C source and header the build formats.
if make --no-print-directory check-format >"$out" 2>&1; then
	passed=$((passed + 1))
	echo "clang-format: 1 passed, 0 failed"
else
	failed=$((failed + 1))
	sed 's/^/    /' "$out" | head -40
	echo "clang-format: 0 passed, 1 failed"
fi

echo "house: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
