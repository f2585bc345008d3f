#!/usr/bin/env bash
# Builds every libFuzzer target (tests/fuzz/fuzz_*.c) into build/fuzz/,
# replays the saved crash inputs under tests/fuzz/regressions/<target>/, then
# fuzzes each target for FUZZ_SECONDS on a scratch copy of its seed corpus.
#
#   FUZZ_SECONDS=60     time per target (make test's smoke uses 5)
#   FUZZ_TARGETS="..."  only these targets (short names: symtab sites ...)
#   FUZZ_JOBS=N         targets fuzzed at once (default: CPU count)
#
# Each fuzz_*.c names what it links on a line "/* build: SOURCES LIBS */".
# New inputs found while fuzzing stay under build/fuzz/work/; a crash leaves
# its input under build/fuzz/artifacts/<target>/ and fails the run.
set -u
cd "$(dirname "$0")/../.." || exit 1

FUZZ_SECONDS=${FUZZ_SECONDS:-60}
FUZZ_JOBS=${FUZZ_JOBS:-$(nproc)}
CLANG=${CLANG:-clang}
OUT=build/fuzz
SRC=tests/fuzz
COMMON=(-g -O1 -std=c11 -D_GNU_SOURCE -Iinclude -Iagent -Ibuild -I"$SRC"
	-fno-omit-frame-pointer -fno-sanitize-recover=all)
OBJ_SAN=-fsanitize=fuzzer-no-link,address,undefined
BIN_SAN=-fsanitize=fuzzer,address,undefined
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

passed=0 failed=0 failures=()

# Waits while FUZZ_JOBS background jobs are running.
throttle() {
	while [ "$(jobs -rp | wc -l)" -ge "$FUZZ_JOBS" ]; do
		wait -n 2>/dev/null || true
	done
}

# Short name of a target source: tests/fuzz/fuzz_symtab.c -> symtab
target_name() { basename "$1" .c | sed 's/^fuzz_//'; }
# The words of the target's "/* build: ... */" line.
build_line() { sed -n 's|^/\* build: \(.*\) \*/$|\1|p' "$1" | head -1; }

select_targets() {
	local f name
	for f in "$SRC"/fuzz_*.c; do
		name=$(target_name "$f")
		if [ -n "${FUZZ_TARGETS:-}" ] && ! grep -qw -- "$name" <<<"$FUZZ_TARGETS"; then
			continue
		fi
		echo "$name"
	done
}

# One object per agent source, shared by the targets; rebuilt when stale.
compile_object() {
	local src=$1 obj newest_header
	obj=$OUT/obj/$(basename "$1" .c).o
	newest_header=$(ls -t agent/*.h include/*.h 2>/dev/null | head -1)
	if [ -f "$obj" ] && [ "$obj" -nt "$src" ] && [ "$obj" -nt "$newest_header" ]; then
		return 0
	fi
	rm -f "$obj"
	"$CLANG" "${COMMON[@]}" $OBJ_SAN -c "$src" -o "$obj" >"$obj.log" 2>&1
}

build_objects() {
	local t w srcs=()
	for t in "$@"; do
		for w in $(build_line "$SRC/fuzz_$t.c"); do
			case $w in *.c) srcs+=("$w") ;; esac
		done
	done
	for w in $(printf '%s\n' "${srcs[@]}" | sort -u); do
		throttle
		compile_object "$w" &
	done
	wait
}

link_target() {
	local t=$1 objs=() libs=() w
	for w in $(build_line "$SRC/fuzz_$t.c"); do
		case $w in
		*.c) objs+=("$OUT/obj/$(basename "$w" .c).o") ;;
		*) libs+=("$w") ;;
		esac
	done
	"$CLANG" "${COMMON[@]}" $BIN_SAN -o "$OUT/fuzz_$t" "$SRC/fuzz_$t.c" "${objs[@]}" \
		"${libs[@]}" >"$OUT/logs/$t.build.log" 2>&1 || {
		# the first missing object's compiler output says why
		for w in "${objs[@]}"; do
			[ -f "$w" ] || cat "$w.log" >>"$OUT/logs/$t.build.log" 2>/dev/null
		done
		return 1
	}
}

build_all() {
	local t
	mkdir -p "$OUT/obj" "$OUT/logs" "$OUT/work" "$OUT/artifacts"
	# A source that does not compile fails only the targets that link it.
	build_objects "$@"
	for t in "$@"; do
		rm -f "$OUT/fuzz_$t"
		throttle
		link_target "$t" &
	done
	wait
}

# Runs the target once on each saved crash input; all must now pass.
replay_regressions() {
	local t=$1 dir=$SRC/regressions/$1
	[ -d "$dir" ] && [ -n "$(ls -A "$dir" 2>/dev/null)" ] || return 0
	"$OUT/fuzz_$t" -timeout=10 -rss_limit_mb=2048 "$dir"/* </dev/null \
		>"$OUT/logs/$t.replay.log" 2>&1
}

fuzz_target() {
	local t=$1 work=$OUT/work/$1 dict=$SRC/dict/$1.dict opts=()
	rm -rf "$work"
	mkdir -p "$work" "$OUT/artifacts/$t"
	[ -d "$SRC/corpus/$t" ] && cp -r "$SRC/corpus/$t/." "$work/"
	[ -f "$dict" ] && opts+=("-dict=$dict")
	"$OUT/fuzz_$t" "${opts[@]}" -max_total_time="$FUZZ_SECONDS" -rss_limit_mb=2048 \
		-timeout=10 -print_final_stats=1 -artifact_prefix="$OUT/artifacts/$t/" \
		"$work" </dev/null >"$OUT/logs/$t.log" 2>&1
}

# Replay, then fuzz; prints one status line. Runs in the background.
check_target() {
	local t=$1
	if [ ! -x "$OUT/fuzz_$t" ]; then
		echo "$t: FAILED to build (see $OUT/logs/$t.build.log)"
		tail -20 "$OUT/logs/$t.build.log" 2>/dev/null | sed 's/^/    /'
		return 1
	fi
	if ! replay_regressions "$t"; then
		echo "$t: CRASH replaying $SRC/regressions/$t/"
		grep -E 'ERROR|SUMMARY|Running:|#[0-9]+ ' "$OUT/logs/$t.replay.log" | head -30 |
			sed 's/^/    /'
		return 1
	fi
	if ! fuzz_target "$t"; then
		echo "$t: CRASH (input under $OUT/artifacts/$t/, log $OUT/logs/$t.log)"
		grep -E 'ERROR|SUMMARY|#[0-9]+ |Test unit written' "$OUT/logs/$t.log" | head -30 |
			sed 's/^/    /'
		return 1
	fi
	local runs
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$OUT/logs/$t.log" | tail -1)
	echo "$t: ok (${runs:-?} runs in ${FUZZ_SECONDS}s)"
}

main() {
	local targets t
	mapfile -t targets < <(select_targets)
	if [ "${#targets[@]}" -eq 0 ]; then
		echo "fuzz: no targets"
		echo "fuzz: 0 passed, 1 failed"
		return 1
	fi
	echo "fuzz: building ${#targets[@]} targets"
	build_all "${targets[@]}"
	for t in "${targets[@]}"; do
		throttle
		rm -f "$OUT/logs/$t.rc"
		(
			check_target "$t" >"$OUT/logs/$t.status" 2>&1
			echo $? >"$OUT/logs/$t.rc"
		) &
	done
	wait
	for t in "${targets[@]}"; do
		cat "$OUT/logs/$t.status"
		if [ "$(cat "$OUT/logs/$t.rc" 2>/dev/null)" = 0 ]; then
			passed=$((passed + 1))
		else
			failed=$((failed + 1))
			failures+=("$t")
		fi
	done
	[ "${#failures[@]}" -eq 0 ] || echo "fuzz: failing: ${failures[*]}"
	echo "fuzz: $passed passed, $failed failed"
	[ "$failed" -eq 0 ]
}

main
