#!/usr/bin/env bash
# Static checks of the monitoring stack: alerting and recording rules and
# their unit tests, the Prometheus and Alertmanager configurations, the
# Grafana dashboards and the deployment manifests. Needs promtool and
# python3 with yaml; amtool is used when installed.
# Prints `monitoring: N passed, N failed`; exits 1 on any failure.
set -uo pipefail

cd "$(dirname "$0")/../.." || exit 1
here=tests/monitoring
passed=0
failed=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# One step: a command that passes or fails as a whole.
step() {
	local what=$1
	shift
	if "$@" >"$tmp/out" 2>&1; then
		passed=$((passed + 1))
		echo "PASS: $what"
	else
		failed=$((failed + 1))
		echo "FAIL: $what"
		sed 's/^/    /' "$tmp/out"
	fi
}

# A checker printing PASS:/FAIL: lines: each line counts.
checker() {
	local what=$1 rc p f
	shift
	"$@" >"$tmp/out" 2>&1
	rc=$?
	p=$(grep -c '^PASS:' "$tmp/out")
	f=$(grep -c '^FAIL:' "$tmp/out")
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		f=1 # crashed before reporting
		echo "FAIL: $what exited $rc"
		sed 's/^/    /' "$tmp/out"
	else
		grep '^FAIL:' "$tmp/out"
		echo "${what}: $p passed, $f failed"
	fi
	passed=$((passed + p))
	failed=$((failed + f))
}

# Prometheus as installed: a config with the rules in rules/ and the target
# files in targets/ beside it. deploy/prometheus.yml must pass as it is.
install_prometheus_config() {
	rm -rf "$tmp/prom"
	mkdir -p "$tmp/prom/rules"
	cp "$1" "$tmp/prom/prometheus.yml"
	cp rules/*.yml "$tmp/prom/rules/"
	cp -r deploy/targets "$tmp/prom/"
}

check_prometheus_config() {
	install_prometheus_config deploy/prometheus.yml
	promtool check config "$tmp/prom/prometheus.yml"
}

# Debian's promtool is built without Kubernetes discovery and rejects
# kubernetes_sd_configs: then each one is replaced by a static target (a
# stub), so the rest (relabelling, rules, alerting) is still checked. An
# upstream promtool checks the file as it is.
check_kubernetes_config() {
	install_prometheus_config deploy/kubernetes/prometheus.yml
	if promtool check config "$tmp/prom/prometheus.yml" >"$tmp/prom/check.out" 2>&1; then
		cat "$tmp/prom/check.out"
		return 0
	fi
	if ! grep -q 'field kubernetes_sd_configs not found' "$tmp/prom/check.out"; then
		cat "$tmp/prom/check.out"
		return 1
	fi
	python3 - "$tmp/prom/prometheus.yml" <<-'EOF' || return 1
		import sys, yaml
		path = sys.argv[1]
		with open(path) as f:
		    config = yaml.safe_load(f)
		for job in config["scrape_configs"] + config["alerting"]["alertmanagers"]:
		    if job.pop("kubernetes_sd_configs", None) is not None:
		        job["static_configs"] = [{"targets": ["pod.invalid:80"]}]
		with open(path, "w") as f:
		    yaml.safe_dump(config, f, sort_keys=False)
	EOF
	promtool check config "$tmp/prom/prometheus.yml"
}

# True when this promtool lacks Kubernetes discovery (Debian's does).
kubernetes_sd_stubbed() {
	local out
	out=$(promtool check config /dev/stdin 2>&1 <<<'scrape_configs: [{job_name: k, kubernetes_sd_configs: [{role: pod}]}]')
	grep -q 'field kubernetes_sd_configs not found' <<<"$out"
}

check_rule_tests() {
	(cd rules/tests && promtool test rules ./*.yml)
}

step "promtool check rules" promtool check rules rules/*.yml
step "promtool test rules" check_rule_tests
checker "alert coverage" python3 "$here/check_alert_tests.py"
step "promtool check config deploy/prometheus.yml" check_prometheus_config
if kubernetes_sd_stubbed; then
	step "promtool check config deploy/kubernetes/prometheus.yml (Debian's promtool lacks kubernetes_sd_configs: stubbed with static targets)" \
		check_kubernetes_config
else
	step "promtool check config deploy/kubernetes/prometheus.yml" check_kubernetes_config
fi
if command -v amtool >/dev/null; then
	step "amtool check-config deploy/alertmanager.yml" amtool check-config deploy/alertmanager.yml
else
	echo "SKIP: amtool not installed (prometheus-alertmanager)"
fi
checker "dashboards" python3 "$here/check_dashboards.py"
checker "manifests" python3 "$here/check_manifests.py"
step "e2e.sh syntax" bash -n "$here/e2e.sh"
step "e2e_tool.py syntax" python3 -c 'import ast, sys; ast.parse(open(sys.argv[1]).read())' "$here/e2e_tool.py"

echo "monitoring: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
