#!/usr/bin/env bash
# Prints the Debian archive this host already uses (deb822 or one-line
# sources), for debootstrap; deb.debian.org when none is configured.
set -euo pipefail

url=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null |
	grep -oE '^(URIs:|deb)[[:space:]]+(\[[^]]*\][[:space:]]+)?https?://[^[:space:]]+' |
	grep -oE 'https?://[^[:space:]]+' | grep -E '/debian/?$' | head -1 || true)
echo "${url:-http://deb.debian.org/debian}"
