# kvscope: the one build. BPF objects with clang, skeletons with bpftool,
# the agent, and the tests.

CC	?= gcc
CLANG	?= clang
BPFTOOL	?= bpftool
ARCH	:= x86
BUILD	:= build
VERSION	:= $(shell cat VERSION 2>/dev/null || echo 0.0.0)
GITREV	:= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)

WARN	:= -Wall -Wextra -Werror
CFLAGS	?= -O2 -g
BASE_CFLAGS := -std=c11 -D_GNU_SOURCE $(WARN) -Iinclude -Iagent -I$(BUILD) \
	-DKVSCOPE_VERSION='"$(VERSION)"' -DKVSCOPE_REVISION='"$(GITREV)"'
LIBS	:= -lbpf -lelf -lz -lcapstone -lmicrohttpd -lgnutls -lyaml -lcrypt -lcap -lpthread -lm
SAN	:= -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all

BPF_SRCS	:= $(wildcard bpf/*.bpf.c)
BPF_OBJS	:= $(patsubst bpf/%.bpf.c,$(BUILD)/%.bpf.o,$(BPF_SRCS))
SKELS		:= $(patsubst bpf/%.bpf.c,$(BUILD)/%.skel.h,$(BPF_SRCS))
AGENT_SRCS	:= agent/main.c $(wildcard agent/*/*.c)
AGENT_HDRS	:= $(wildcard agent/*/*.h) $(wildcard include/*.h)
FORMAT_EXTRA	:= $(wildcard bpf/*.bpf.c tests/unit/*.c tests/unit/*.h tests/fuzz/*.c tests/fuzz/*.h)
LIB_SRCS	:= $(filter-out agent/main.c,$(AGENT_SRCS))
PROFILES	:= $(sort $(wildcard profiles/*.yaml))
UNIT_SRCS	:= $(wildcard tests/unit/test_*.c)

# Two flavours of the agent: plain, and ASan/UBSan for the tests.
OBJS		:= $(patsubst agent/%.c,$(BUILD)/obj/%.o,$(LIB_SRCS)) $(BUILD)/obj/profiles_builtin.o
SAN_OBJS	:= $(patsubst agent/%.c,$(BUILD)/san/%.o,$(LIB_SRCS)) $(BUILD)/san/profiles_builtin.o
UNIT_BINS	:= $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRCS))

.PHONY: all deps agent test unit integration fidelity bench e2e clean format run check-format \
	test-kernels fuzz soak
all: agent

agent: $(BUILD)/kvscope $(BUILD)/san/kvscope

deps:
	@scripts/install-deps.sh

$(BUILD) $(BUILD)/obj $(BUILD)/san $(BUILD)/tests:
	@mkdir -p $@

# BPF: CO-RE objects against the committed vmlinux.h, then skeletons.
$(BUILD)/%.bpf.o: bpf/%.bpf.c include/*.h | $(BUILD)
	$(CLANG) -g -O2 -target bpf -D__TARGET_ARCH_$(ARCH) -Ivmlinux/$(ARCH) -Iinclude \
		-Wall -Werror -c $< -o $@
	llvm-strip -g $@ 2>/dev/null || true

$(BUILD)/%.skel.h: $(BUILD)/%.bpf.o
	$(BPFTOOL) gen skeleton $< > $@

.SECONDARY: $(BPF_OBJS)

# Profiles ship inside the binary; --profile.dir adds more.
$(BUILD)/profiles_builtin.c: $(PROFILES) scripts/embed-profiles.sh | $(BUILD)
	scripts/embed-profiles.sh $(PROFILES) > $@

$(BUILD)/obj/profiles_builtin.o: $(BUILD)/profiles_builtin.c | $(BUILD)/obj
	$(CC) $(BASE_CFLAGS) $(CFLAGS) -c $< -o $@
$(BUILD)/san/profiles_builtin.o: $(BUILD)/profiles_builtin.c | $(BUILD)/san
	$(CC) $(BASE_CFLAGS) $(CFLAGS) $(SAN) -c $< -o $@

$(BUILD)/obj/%.o: agent/%.c $(AGENT_HDRS) | $(BUILD)/obj
	@mkdir -p $(@D)
	$(CC) $(BASE_CFLAGS) $(CFLAGS) -c $< -o $@
$(BUILD)/san/%.o: agent/%.c $(AGENT_HDRS) | $(BUILD)/san
	@mkdir -p $(@D)
	$(CC) $(BASE_CFLAGS) $(CFLAGS) $(SAN) -c $< -o $@

# Only the files that load BPF objects include skeletons.
SKEL_USERS := $(shell grep -l 'skel\.h' $(AGENT_SRCS) 2>/dev/null)
$(patsubst agent/%.c,$(BUILD)/obj/%.o,$(SKEL_USERS)) $(patsubst agent/%.c,$(BUILD)/san/%.o,$(SKEL_USERS)): $(SKELS)

$(BUILD)/libkvscope.a: $(OBJS)
	ar rcs $@ $^
$(BUILD)/san/libkvscope.a: $(SAN_OBJS)
	ar rcs $@ $^

$(BUILD)/kvscope: $(BUILD)/obj/main.o $(BUILD)/libkvscope.a
	$(CC) $(CFLAGS) -o $@ $^ $(LIBS)
$(BUILD)/san/kvscope: $(BUILD)/san/main.o $(BUILD)/san/libkvscope.a
	$(CC) $(CFLAGS) $(SAN) -o $@ $^ $(LIBS)

# Unit tests: cmocka, built with sanitizers.
$(BUILD)/tests/%: tests/unit/%.c $(wildcard tests/unit/*.h) $(BUILD)/san/libkvscope.a | $(BUILD)/tests
	$(CC) $(BASE_CFLAGS) -Itests/unit $(CFLAGS) $(SAN) -o $@ $< $(BUILD)/san/libkvscope.a \
		$(LIBS) -lcmocka

unit: $(UNIT_BINS)
	@tests/run-unit.sh $(UNIT_BINS)

integration: agent
	@tests/integration/run.sh

# The monitoring stack proven live: Prometheus, Alertmanager, node exporter,
# kvscope and a demo cluster on loopback.
e2e: deps $(BUILD)/kvscope
	@tests/monitoring/e2e.sh

# Agreement with etcd's own books through failover, errors and restarts.
fidelity: deps agent
	@tests/fidelity/run.sh

# What kvscope costs the store, side by side with the alternatives.
bench: deps $(BUILD)/kvscope
	@bench/run.sh

# The CO-RE objects and the kprobe/fentry paths on Debian's stock kernel, in qemu.
test-kernels: deps agent
	@tests/kernels/run.sh

# Load, leader kills and an agent restart for SOAK_SECONDS (default 10 minutes).
soak: deps agent
	@tests/soak/run.sh

# libFuzzer targets; FUZZ_SECONDS each (make test runs a short smoke).
fuzz: deps
	@tests/fuzz/run.sh

# The README's test command: installs what it needs, builds, runs every test.
test: deps
	@$(MAKE) --no-print-directory agent
	@tests/run-all.sh

# The README's run command: kvscope on this host; a local 3-node etcd demo
# when no store is running.
run: deps
	@$(MAKE) --no-print-directory $(BUILD)/kvscope
	@scripts/run.sh

format:
	clang-format -i $(AGENT_SRCS) $(AGENT_HDRS) $(FORMAT_EXTRA)

check-format:
	@clang-format --dry-run --Werror $(AGENT_SRCS) $(AGENT_HDRS) $(FORMAT_EXTRA)

clean:
	rm -rf $(BUILD)

# Go fixtures for the unit tests: stripped like a packaged binary, built with
# bookworm's Go and with Go 1.23 (bookworm-backports, fetched and cached by
# scripts/fetch-builds.sh), so the pclntab and code of both toolchains are
# covered; gofuncs also linked externally, as Debian links etcd.
FIXTURE_NAMES	:= $(patsubst tests/fixtures/%/main.go,%,$(wildcard tests/fixtures/*/main.go))
FIXTURE_FILES	:= $(shell find tests/fixtures -type f 2>/dev/null)
GO_FIXTURES	:= $(addprefix $(BUILD)/fixtures/,$(FIXTURE_NAMES)) \
	$(addprefix $(BUILD)/fixtures/go1.23/,$(FIXTURE_NAMES)) $(BUILD)/fixtures/extlink/gofuncs
$(BUILD)/fixtures/go1.23/%: $(FIXTURE_FILES) scripts/build-fixture.sh
	scripts/build-fixture.sh "$$(scripts/fetch-builds.sh path go-1.23.5)" tests/fixtures/$* $@
$(BUILD)/fixtures/extlink/%: $(FIXTURE_FILES) scripts/build-fixture.sh
	scripts/build-fixture.sh go tests/fixtures/$* $@ extlink
$(BUILD)/fixtures/%: $(FIXTURE_FILES) scripts/build-fixture.sh
	scripts/build-fixture.sh go tests/fixtures/$* $@
$(UNIT_BINS): $(GO_FIXTURES)
