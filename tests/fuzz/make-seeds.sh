#!/usr/bin/env bash
# Regenerates the seed corpora under tests/fuzz/corpus/ from small real
# inputs: tiny ELF files built here, crafted Go tables, cuts of a Go fixture,
# function bytes from Debian's etcd, the shipped profiles, sample argv.
# The output is committed; run this only to refresh it. Needs cc, python3,
# and for some seeds /usr/bin/etcd and build/fixtures/gofuncs (make unit).
set -euo pipefail
cd "$(dirname "$0")/../.." || exit 1

OUT=tests/fuzz/corpus
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
ETCD=${ETCD:-/usr/bin/etcd}
GO_FIXTURE=${GO_FIXTURE:-build/fixtures/gofuncs}

for t in symtab gopclntab sites profile cli listen_address accept_encoding procfs selfstats \
	webconfig slots discovery; do
	rm -rf "${OUT:?}/$t"
	mkdir -p "$OUT/$t"
done

# --- Go tables: a pclntab in each header format, and an inline buildinfo ---
python3 - "$TMP" <<'EOF'
import struct, sys
out = sys.argv[1]
MAGIC = {12: 0xfffffffb, 116: 0xfffffffa, 118: 0xfffffff0, 120: 0xfffffff1}
FUNCS = [("main.main", 0x0, 0x40), ("main.helper", 0x40, 0x80), ("runtime.main", 0x80, 0xc0)]

def names_blob():
    blob, offs = b"", []
    for name, _, _ in FUNCS:
        offs.append(len(blob))
        blob += name.encode() + b"\0"
    return blob, offs

def pclntab(version, ptrsize=8, text=0x401000):
    P = "<Q" if ptrsize == 8 else "<I"
    word = 4 if version >= 118 else ptrsize
    W = "<I" if word == 4 else P
    nfields = {12: 1, 116: 7, 118: 8, 120: 8}[version]
    hdr_len = 8 + nfields * ptrsize
    names, offs = names_blob()
    base = 0 if version >= 118 else text
    # functab rows (entry, funcoff), the end entry, then one record per func
    nrows = len(FUNCS)
    ftab_len = (2 * nrows + 1) * word
    records = b""
    funcoffs = []
    for i, (_, start, _) in enumerate(FUNCS):
        funcoffs.append(ftab_len + len(records))
        records += struct.pack(W, base + start) + struct.pack("<i", 0)  # nameoff patched below
    if version == 12:
        ftab_off = hdr_len
        names_off = ftab_off + ftab_len + len(records)
        name_base = 0  # names relative to the table start
    else:
        names_off = hdr_len
        ftab_off = (names_off + len(names) + 7) & ~7
        name_base = names_off
    recs = bytearray(records)
    for i in range(nrows):
        at = funcoffs[i] - ftab_len + word
        nameoff = offs[i] + (names_off if version == 12 else 0)
        recs[at:at + 4] = struct.pack("<i", nameoff)
    ftab = b""
    # records hang off the functab, or off the table start before 1.16
    rec_base = hdr_len if version == 12 else 0
    for i, (_, start, _) in enumerate(FUNCS):
        ftab += struct.pack(W, base + start) + struct.pack(W, rec_base + funcoffs[i])
    ftab += struct.pack(W, base + FUNCS[-1][2])
    if version == 12:
        fields = [nrows]
    elif version == 116:
        fields = [nrows, 0, names_off, 0, 0, 0, ftab_off]
    else:
        fields = [nrows, 0, text, names_off, 0, 0, 0, ftab_off]
    q = 1
    head = struct.pack("<I", MAGIC[version]) + bytes([0, 0, q, ptrsize])
    head += b"".join(struct.pack(P, f) for f in fields)
    if version == 12:
        body = head + ftab + bytes(recs) + names
    else:
        body = head + names
        body += b"\0" * (ftab_off - len(body))
        body += ftab + bytes(recs)
    return body

for v in (12, 116, 118, 120):
    open(f"{out}/pclntab-{v}", "wb").write(pclntab(v))
open(f"{out}/pclntab-118-ptr4", "wb").write(pclntab(118, ptrsize=4))
open(f"{out}/pclntab-118-notext", "wb").write(pclntab(118, text=0))

def varint(n):
    b = b""
    while True:
        if n < 0x80:
            return b + bytes([n])
        b += bytes([n & 0x7f | 0x80])
        n >>= 7

sentinel = bytes.fromhex("3077af0c9274080241e1c107e6d618e6")
tail = bytes.fromhex("f932433186182072008242104116d8f2")
mod = b"path\texample.com/fuzz\nmod\texample.com/fuzz\t(devel)\t\nbuild\t-compiler=gc\n"
bi = b"\xff Go buildinf:" + bytes([8, 2]) + b"\0" * 16
bi += varint(8) + b"go1.19.8" + varint(len(sentinel + mod + tail)) + sentinel + mod + tail
bi += b"\0" * (-len(bi) % 16)
open(f"{out}/buildinfo", "wb").write(bi)

def c_array(name, section, data, writable):
    const = "" if writable else "const "
    body = ",".join(str(b) for b in data)
    return (f'__attribute__((section("{section}"), used, aligned(16))) static {const}'
            f"unsigned char {name}[] = {{{body}}};\n")

with open(f"{out}/gotables.c", "w") as f:
    f.write(c_array("pcln", ".gopclntab", pclntab(120), False))
    f.write(c_array("binfo", ".go.buildinfo", bi, True))
    f.write("int main(void) { return pcln[0] + binfo[0]; }\n")
EOF

# the gopclntab target reads 8 bytes of textStart fallback first
for f in "$TMP"/pclntab-*; do
	{ printf '\x00\x10\x40\x00\x00\x00\x00\x00'; cat "$f"; } >"$OUT/gopclntab/$(basename "$f")"
done

# --- Tiny ELF files: stripped, with .symtab, PIE, and with Go tables ---
# shellcheck disable=SC2054 # the commas belong to -Wl
small=(-Os -Wl,-z,noseparate-code -Wl,--build-id=none)
printf 'int helper(int x) { return x * 3; }\nint main(int c, char **v) { (void)v; return helper(c); }\n' >"$TMP/min.c"
cc "${small[@]}" -no-pie -s -o "$OUT/symtab/c-stripped" "$TMP/min.c"
cc "${small[@]}" -no-pie -o "$OUT/symtab/c-symtab" "$TMP/min.c"
cc "${small[@]}" -fpie -pie -s -o "$OUT/symtab/c-pie-stripped" "$TMP/min.c"
cc "${small[@]}" -no-pie -s -o "$OUT/symtab/go-tables" "$TMP/gotables.c"
# Go tables found without section headers: only the segments say where.
cp "$OUT/symtab/go-tables" "$OUT/symtab/go-tables-noshdr"
python3 - "$OUT/symtab/go-tables-noshdr" <<'EOF'
import struct, sys
p = sys.argv[1]
b = bytearray(open(p, "rb").read())
b[0x28:0x30] = struct.pack("<Q", 0)  # e_shoff
b[0x3c:0x40] = struct.pack("<HH", 0, 0)  # e_shnum, e_shstrndx
open(p, "wb").write(b)
EOF
head -c 64 "$OUT/symtab/c-stripped" >"$OUT/symtab/elf-header-only"

# Cuts of a real stripped Go binary: its headers, truncated mid-file.
if [ -f "$GO_FIXTURE" ]; then
	head -c 4096 "$GO_FIXTURE" >"$OUT/symtab/go-head-4k"
	head -c 1024 "$GO_FIXTURE" >"$OUT/symtab/go-head-1k"
	off=$(readelf -SW "$GO_FIXTURE" | sed 's/^ *\[ *[0-9]*\]//' | awk '$1 == ".gopclntab" { print $4 }')
	if [ -n "$off" ]; then
		{
			printf '\x00\x10\x40\x00\x00\x00\x00\x00'
			dd if="$GO_FIXTURE" bs=1 skip=$((0x$off)) count=4096 status=none
		} >"$OUT/gopclntab/go-fixture-head"
	fi
else
	echo "make-seeds: $GO_FIXTURE missing (make unit builds it); skipping Go cuts" >&2
fi

# --- Function bytes from Debian's etcd: 2 bytes live mask, 1 byte pick, code ---
if [ -f "$ETCD" ]; then
	# file offsets of function entries (Go stack-check prologues), checked with objdump
	for off in 0x627a40 0x8d0820 0x6bf0a0; do
		{
			printf '\x01\x00\x00'
			dd if="$ETCD" bs=1 skip=$((off)) count=512 status=none
		} >"$OUT/sites/etcd-$off"
	done
	{
		printf '\x08\x40\x01'
		dd if="$ETCD" bs=1 skip=$((0x627a40)) count=128 status=none
	} >"$OUT/sites/etcd-0x627a40-short"
else
	echo "make-seeds: $ETCD missing; skipping machine-code seeds" >&2
fi
# nop5, ret, call+ret, INT3 padding
printf '\x00\x00\x00\x0f\x1f\x44\x00\x00\xc3' >"$OUT/sites/nop5-ret"
printf '\x01\x00\x00\xe8\x00\x00\x00\x00\x48\x85\xc0\xc3\xcc\xcc\xcc' >"$OUT/sites/call-ret-pad"

# --- Profiles: the shipped ones and a few smaller variants ---
cp profiles/*.yaml "$OUT/profile/"
cat >"$OUT/profile/minimal-go.yaml" <<'EOF'
format: 1
name: tiny
store: tiny
language: go
match: {go_module: example.com/tiny}
methods: [Get]
probes:
  - {function: main.get, role: request_start, method: Get}
EOF
cat >"$OUT/profile/minimal-c.yaml" <<'EOF'
format: 1
name: cstore
store: cstore
language: c
match:
  symbols: [store_get, store_put]
operations: [flush]
status: {codes: {0: 200, 1: 404}, default: 500}
raft: {leader_state: 1}
files:
  - {glob: "data/*.log", class: wal}
probes:
  - {function: store_get, role: request_end, site: ret, value: {reg: rax, size: 4}}
  - {function: store_flush, role: storage_op, site: {offset: 0x10}, operation: flush}
  - function: store_tick
    role: gauges
    reads: &r
      - {gauge: raft_term, reg: rdi, deref: [0x8, 0x10]}
  - {function: store_tick2, role: gauges, reads: *r}
  - {function: store_lead, role: leader_change, value: {reg: rax, size: 1}}
EOF
printf 'format: 2\n' >"$OUT/profile/future-format.yaml"
printf 'a: &x [*x]\n' >"$OUT/profile/alias-loop.yaml"

# --- Command lines: NUL-separated argv[1..] ---
argv() { printf '%s\0' "$@" | head -c -1; }
argv --web.listen-address=127.0.0.1:9912 --log.level=debug --log.format=json >"$OUT/cli/flags"
argv --target.pid=1,2,3 --pid 4 --histogram.buckets=0.001,0.01,1 --discovery.interval=1s >"$OUT/cli/pids"
argv probes /usr/bin/etcd >"$OUT/cli/probes"
argv probes --pid 42 --max-targets 8 >"$OUT/cli/probes-pid"
argv -h >"$OUT/cli/help"
argv check >"$OUT/cli/check"
argv --version --profile.dir /etc/kvscope --path.procfs=/host/proc --target.exe='*etcd*' \
	--target.name=m1 --web.telemetry-path=/m >"$OUT/cli/misc"
argv -xh --bogus >"$OUT/cli/bad"

# --- Listen addresses (first byte: host buffer size) ---
for a in ':2112' '127.0.0.1:2112' '[::1]:9912' 'localhost:0' '[fe80::1%eth0]:80' 'a:b:c'; do
	printf '\x40%s' "$a" >"$OUT/listen_address/$(printf '%s' "$a" | tr -c 'a-zA-Z0-9' _)"
done

# --- Accept-Encoding values ---
for h in 'gzip' 'gzip;q=0' 'deflate, gzip;q=0.5' '*;q=1, gzip;q=0' 'x-gzip' 'identity;q=1, *;q=0.1'; do
	printf '%s' "$h" >"$OUT/accept_encoding/$(printf '%s' "$h" | tr -c 'a-zA-Z0-9' _)"
done

# --- procfs: first byte is the output buffer size; then argv/env/stat text ---
{ printf '\x20'; argv /usr/bin/etcd --name m1 --data-dir /var/lib/etcd; } >"$OUT/procfs/cmdline"
{ printf '\x08'; argv etcd --name=infra0 ETCD_NAME=m2; } >"$OUT/procfs/cmdline-eq"
printf '\x20%s' "1234 (etcd) S 1 1234 1234 0 -1 4194560 2470 0 0 0 12 7 0 0 20 0 12 0 5213 1234567 3000 18446744073709551615" \
	>"$OUT/procfs/stat"
printf '\x20%s' "99 (a) b) c) R 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20" >"$OUT/procfs/stat-parens"

# --- selfstats: /proc/self/stat, /proc/stat, /proc/self/limits ---
cp "$OUT/procfs/stat" "$OUT/selfstats/stat"
sed -i '1s/^.//' "$OUT/selfstats/stat"
printf 'cpu  1 2 3 4\nintr 5\nctxt 6\nbtime 1700000000\nprocesses 7\n' >"$OUT/selfstats/proc-stat"
printf 'Limit                     Soft Limit           Hard Limit           Units\nMax open files            1024                 524288               files\n' \
	>"$OUT/selfstats/limits"
printf 'Max open files            unlimited            unlimited            files\n' \
	>"$OUT/selfstats/limits-unlimited"

# --- slots: first byte max targets; then steps (op, who, pid x4, name len, name) ---
claim() { printf "\\x00\\x$1"; printf "$2"; printf "\\x$(printf %02x ${#3})%s" "$3"; }
long=$(printf 'm%.0s' $(seq 1 70))
{ printf '\x03'; claim 00 '\x01\x10\x00\x00' "$long"; claim 00 '\x02\x10\x00\x00' "$long";
	claim 00 '\x03\x10\x00\x00' "$long"; } >"$OUT/slots/long-names"
{ printf '\x02'; claim 00 '\x01\x00\x00\x00' etcd-0; printf '\x02\x00';
	claim 01 '\x02\x00\x00\x00' etcd-0; printf '\x03\x3c'; claim 00 '\x03\x00\x00\x00' etcd-0; } \
	>"$OUT/slots/foreign-then-member"
{ printf '\x01'; claim 00 '\x05\x00\x00\x00' $'bad\xffname'; claim 00 '\x06\x00\x00\x00' x-6; } \
	>"$OUT/slots/bad-utf8"

# --- discovery: /proc/PID/status and cgroup text, then pidset steps ---
printf 'Name:\tetcd\nUmask:\t0022\nUid:\t1000\t0\t0\t0\nGid:\t0\t0\t0\t0\n' >"$OUT/discovery/status"
printf '12:memory:/x\n1:name=systemd:/kubepods/burstable/pod1/c1\n0::/\n' >"$OUT/discovery/cgroup-v1"
printf '0::/kubepods.slice/kubepods-pod1.slice/cri-containerd-a.scope\n' >"$OUT/discovery/cgroup-v2"
printf 'caf\xc3\xa9 bad\xff\xfe \xed\xa0\x80 \xf0\x9f\x98\x80' >"$OUT/discovery/utf8"

# --- Web config: PEM names resolve in the fuzz target's scratch directory ---
hash='$2b$04$TqCpWzXXo7qZAPafg63FserxfVXWnkdMV7W9AOiDIs..pyz.Je5/2' # bcrypt of "secret", cost 4
cat >"$OUT/webconfig/tls" <<'EOF'
tls_server_config:
  cert_file: cert.pem
  key_file: key.pem
  client_ca_file: ca.pem
  client_auth_type: RequireAndVerifyClientCert
  min_version: TLS12
  max_version: TLS13
EOF
printf 'basic_auth_users:\n  alice: %s\n  bob: "%s"\n' "$hash" "$hash" >"$OUT/webconfig/users"
printf 'tls_server_config: {cert_file: cert.pem, key_file: empty.pem}\nbasic_auth_users: ~\n' \
	>"$OUT/webconfig/empty-key"
printf '' >"$OUT/webconfig/empty"
printf 'http_server_config: {http2: true}\n' >"$OUT/webconfig/unknown-key"

du -sh "$OUT"
