# vdi — one Makefile for everything.
#   make          build everything into build/ (binaries in build/bin/)
#   make deps     install the Debian packages the build, the server and the tests need
#   make test     unit tests (ASan+UBSan) and integration tests; ends "N passed, N failed"
#   make run      start vdi on its embedded default
#   make bench    print performance figures beside their anchors
#   make soak     thousands of idle connections held against vdi-server (not in CI)
#   make fuzz     run every fuzz target for FUZZ_SECONDS each
#   make format   clang-format every source file

# Builds use every core unless the caller chose (make -jN).
ifeq ($(filter -j%,$(MAKEFLAGS)),)
MAKEFLAGS += -j$(shell nproc)
endif
BUILD := build
BIN := $(BUILD)/bin
CC := gcc
CFLAGS := -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -O2 -g -MMD -MP -fno-strict-aliasing
ASAN_FLAGS := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
LDLIBS_VMM := -lpthread -lz -llzma -lzstd -llz4
# The display gateway's libraries; pkg-config runs when a recipe needs them,
# after make deps has installed them. Their headers are system headers (-isystem)
# so our warnings do not apply to them.
DISPLAY_PKGS := libvncserver freerdp2 freerdp-server2 winpr2 openssl libavcodec libavutil
DISPLAY_CFLAGS = $(patsubst -I%,-isystem %,$(shell pkg-config --cflags $(DISPLAY_PKGS) 2>/dev/null))
LDLIBS_DISPLAY = $(shell pkg-config --libs $(DISPLAY_PKGS) 2>/dev/null) -lpthread
# The broker's libraries: PAM, libcrypt (password hashes), SQLite (state),
# jansson and libmicrohttpd (the REST API).
LDLIBS_BROKER := -lpam -lcrypt -lsqlite3 -ljansson -lmicrohttpd -lgnutls
LDLIBS_ALL = $(LDLIBS_VMM) $(LDLIBS_DISPLAY) $(LDLIBS_BROKER)
# Test clients also speak RDP and VNC themselves.
LDLIBS_TOOLS = $(shell pkg-config --libs libvncclient freerdp-client2 2>/dev/null)

# Debian packages: build, server and tests.
DEPS := gcc make libc6-dev binutils pkg-config clang libclang-rt-14-dev clang-format \
	libcmocka-dev zlib1g-dev liblzma-dev libzstd-dev liblz4-dev \
	xz-utils zstd lz4 gzip python3 procps apt dpkg python3-pil fonts-dejavu-core \
	libvncserver-dev freerdp2-dev libssl-dev libavcodec-dev \
	libpam0g-dev libcrypt-dev libsqlite3-dev libjansson-dev libmicrohttpd-dev libgnutls28-dev libpam-wrapper sqlite3 curl \
	vncsnapshot tigervnc-viewer xvfb freerdp2-x11 rdesktop imagemagick xdotool novnc chromium libsdl2-dev \
	desktop-file-utils

COMMON_SRC := $(wildcard common/*.c)
VMM_LIB_SRC := $(filter-out hypervisor/main.c,$(wildcard hypervisor/*.c hypervisor/boot/*.c hypervisor/devices/*.c))
VMM_MAIN_SRC := hypervisor/main.c
DISPLAY_SRC := $(wildcard display/*.c)
BROKER_SRC := $(wildcard auth/*.c pools/*.c broker/*.c)
SERVER_SRC := $(filter-out vdi-server/main.c,$(wildcard vdi-server/*.c))
GUEST_SRC := $(wildcard hypervisor/guest/*.c hypervisor/guest/*.S)
UNIT_SRC := $(wildcard tests/unit/test_*.c)
FUZZ_SRC := $(wildcard tests/fuzz/fuzz_*.c)
BENCH_SRC := $(wildcard tests/bench/*.c)
TOOL_SRC := $(wildcard tests/tools/*.c)

LIB_SRC := $(COMMON_SRC) $(VMM_LIB_SRC) $(DISPLAY_SRC) $(BROKER_SRC) $(SERVER_SRC)
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
ASAN_OBJ := $(LIB_SRC:%.c=$(BUILD)/asan/%.o)
FUZZ_OBJ := $(LIB_SRC:%.c=$(BUILD)/fuzzobj/%.o)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/unit/%)
FUZZ_BIN := $(FUZZ_SRC:tests/fuzz/%.c=$(BUILD)/tests/fuzz/%)
BENCH_BIN := $(BENCH_SRC:tests/bench/%.c=$(BUILD)/tests/bench/%)
TOOL_BIN := $(TOOL_SRC:tests/tools/%.c=$(BUILD)/tests/tools/%) $(BUILD)/tests/tools/srcaddr.so

GUEST_ELF := $(BUILD)/guest/vdi-guest.elf
GUEST_OBJ := $(patsubst %,$(BUILD)/guest/%.o,$(basename $(GUEST_SRC))) $(BUILD)/guest/font_data.o
# The desktop's glyphs are rendered at build time from the installed DejaVu
# fonts by Debian's python3 (the one python3-pil installs into).
PYTHON_PIL := /usr/bin/python3
FONT_DIR := /usr/share/fonts/truetype/dejavu
FONT_FILES := $(FONT_DIR)/DejaVuSans.ttf $(FONT_DIR)/DejaVuSans-Bold.ttf
# The in-tree guest is freestanding: no libc, no red zone (interrupts use the
# stack), no SSE in kernel code, linked at its physical address.
GUEST_CFLAGS := -std=c11 -Wall -Wextra -Werror -O2 -g -ffreestanding -fno-pic -fno-pie -fno-stack-protector \
	-fcf-protection=none -mno-red-zone -mgeneral-regs-only -fno-asynchronous-unwind-tables -nostdinc \
	-isystem $(shell $(CC) -print-file-name=include) -MMD -MP
GUEST_LDFLAGS := -nostdlib -static -no-pie -Wl,--build-id=none -Wl,-z,max-page-size=4096 -Wl,-z,noexecstack \
	-T hypervisor/guest/guest.ld

.PHONY: all deps test unit integration run bench soak fuzz format clean install
all: $(BIN)/vdi-vmm $(BIN)/vdi-server $(UNIT_BIN) $(FUZZ_BIN) $(BENCH_BIN) $(TOOL_BIN)

deps:
	@missing=""; for p in $(DEPS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "make deps: installing$$missing"; \
	  if [ "$$(id -u)" != 0 ]; then echo "make deps: run as root (or: sudo make deps)"; exit 1; fi; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

$(BUILD)/obj/%.o: %.c | deps
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(DISPLAY_CFLAGS) -c $< -o $@

$(BUILD)/asan/%.o: %.c | deps
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(DISPLAY_CFLAGS) $(ASAN_FLAGS) -c $< -o $@

$(BUILD)/fuzzobj/%.o: %.c | deps
	@mkdir -p $(@D)
	clang $(filter-out -Werror,$(CFLAGS)) $(DISPLAY_CFLAGS) -Werror -fsanitize=fuzzer-no-link,address,undefined -c $< -o $@

$(BUILD)/guest/%.o: %.c | deps
	@mkdir -p $(@D)
	$(CC) $(GUEST_CFLAGS) -c $< -o $@

$(BUILD)/guest/%.o: %.S | deps
	@mkdir -p $(@D)
	$(CC) $(GUEST_CFLAGS) -c $< -o $@

# On a fresh machine the fonts arrive with make deps.
$(FONT_FILES): | deps
	@test -f $@

$(BUILD)/guest/font_data.c: hypervisor/guest/fontgen.py $(FONT_FILES) | deps
	@mkdir -p $(@D)
	$(PYTHON_PIL) hypervisor/guest/fontgen.py $(FONT_DIR) > $@.tmp && mv $@.tmp $@

$(BUILD)/guest/font_data.o: $(BUILD)/guest/font_data.c
	$(CC) $(GUEST_CFLAGS) -Ihypervisor/guest -c $< -o $@

# The same glyphs for the host (the broker's greeter draws text with them):
# desktop.h is plain C, so the generated file builds with each host flavour.
$(BUILD)/obj/guest/font_data.o: $(BUILD)/guest/font_data.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -Ihypervisor/guest -c $< -o $@

$(BUILD)/asan/guest/font_data.o: $(BUILD)/guest/font_data.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(ASAN_FLAGS) -Ihypervisor/guest -c $< -o $@

$(BUILD)/fuzzobj/guest/font_data.o: $(BUILD)/guest/font_data.c
	@mkdir -p $(@D)
	clang $(filter-out -Werror,$(CFLAGS)) -Werror -fsanitize=fuzzer-no-link,address,undefined -Ihypervisor/guest -c $< -o $@

$(GUEST_ELF): $(GUEST_OBJ) hypervisor/guest/guest.ld
	$(CC) $(GUEST_LDFLAGS) $(GUEST_OBJ) -o $@

$(BUILD)/obj/guest_image.o: hypervisor/guest_image.S $(GUEST_ELF) | deps
	@mkdir -p $(@D)
	$(CC) -c -DVDI_GUEST_ELF='"$(GUEST_ELF)"' $< -o $@

$(BUILD)/libvdi.a: $(LIB_OBJ) $(BUILD)/obj/guest/font_data.o
	ar rcsP $@ $^

$(BUILD)/libvdi-asan.a: $(ASAN_OBJ) $(BUILD)/asan/guest/font_data.o
	ar rcsP $@ $^

$(BUILD)/libvdi-fuzz.a: $(FUZZ_OBJ) $(BUILD)/fuzzobj/guest/font_data.o
	ar rcsP $@ $^

$(BIN)/vdi-vmm: $(BUILD)/obj/hypervisor/main.o $(BUILD)/obj/guest_image.o $(BUILD)/libvdi.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $^ -o $@ $(LDLIBS_VMM)

$(BIN)/vdi-server: $(BUILD)/obj/vdi-server/main.o $(BUILD)/libvdi.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $^ -o $@ $(LDLIBS_ALL)

# vdictl, the admin command line: its own HTTPS client (OpenSSL) and jansson.
VDICTL_SRC := $(wildcard vdictl/*.c)
all: $(BIN)/vdictl
$(BIN)/vdictl: $(VDICTL_SRC:%.c=$(BUILD)/obj/%.o) $(BUILD)/libvdi.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $^ -o $@ $(LDLIBS_ALL)

$(BUILD)/tests/unit/%: tests/unit/%.c $(BUILD)/libvdi-asan.a | deps
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(DISPLAY_CFLAGS) $(ASAN_FLAGS) $< -o $@ $(BUILD)/libvdi-asan.a -lcmocka $(LDLIBS_ALL)

$(BUILD)/tests/fuzz/%: tests/fuzz/%.c $(BUILD)/libvdi-fuzz.a | deps
	@mkdir -p $(@D)
	clang $(filter-out -Werror,$(CFLAGS)) $(DISPLAY_CFLAGS) -Werror -fsanitize=fuzzer,address,undefined $< -o $@ \
		$(BUILD)/libvdi-fuzz.a $(LDLIBS_ALL)

$(BUILD)/tests/bench/%: tests/bench/%.c $(BUILD)/libvdi.a | deps
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(DISPLAY_CFLAGS) $< -o $@ $(BUILD)/libvdi.a $(LDLIBS_ALL)

# LD_PRELOAD libraries for tests (tests/tools/preload/): not linked with our code.
$(BUILD)/tests/tools/%.so: tests/tools/preload/%.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -shared -fPIC $< -o $@ -ldl

# Test clients (libvncclient, libfreerdp) and helpers the integration tests
# drive; they may use vdi's own library.
$(BUILD)/tests/tools/%: tests/tools/%.c $(BUILD)/libvdi.a | deps
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(DISPLAY_CFLAGS) $< -o $@ $(BUILD)/libvdi.a $(LDLIBS_TOOLS) $(LDLIBS_ALL)

test: all $(UNIT_BIN) $(FUZZ_BIN)
	@tests/run.sh

# The embedded default: data in ./vdi-data, pool demo of 2 desktops, user demo.
run: $(BIN)/vdi-server $(BIN)/vdi-vmm $(BIN)/vdictl
	$(BIN)/vdi-server

bench: $(BIN)/vdi-vmm $(BIN)/vdi-server $(BENCH_BIN)
	@tests/bench/run.sh

# Not in CI: thousands of idle connections held against one vdi-server (minutes, GiBs).
soak: $(BIN)/vdi-vmm $(BIN)/vdi-server $(BENCH_BIN)
	@tests/bench/soak.sh

# A target's seeds, when it has some, are in tests/fuzz/corpus/NAME; what it finds goes to build/corpus/NAME.
FUZZ_SECONDS ?= 60
fuzz: $(FUZZ_BIN)
	@for f in $(FUZZ_BIN); do echo "== $$f ($(FUZZ_SECONDS)s)"; \
	  mkdir -p $(BUILD)/corpus/$$(basename $$f); \
	  $$f -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 $(BUILD)/corpus/$$(basename $$f) \
	    $$(ls -d tests/fuzz/corpus/$$(basename $$f) 2>/dev/null) || exit 1; done

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD)

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)

# ---- vdi-client ----
# The thin client: SDL2, FreeRDP's client library, libvncclient, OpenSSL and jansson. It speaks protocols, not
# vdi's internals, so it links none of libvdi.a; only the desktop guest's glyphs (font_data.o) for its text.
CLIENT_SRC := $(wildcard client/*.c)
CLIENT_OBJ := $(CLIENT_SRC:%.c=$(BUILD)/obj/%.o)
CLIENT_PKGS := sdl2 freerdp-client2 freerdp2 winpr2 libvncclient openssl
CLIENT_CFLAGS = $(patsubst -I%,-isystem %,$(shell pkg-config --cflags $(CLIENT_PKGS) 2>/dev/null))
LDLIBS_CLIENT = $(shell pkg-config --libs $(CLIENT_PKGS) 2>/dev/null) -ljansson -lpthread
all: $(BIN)/vdi-client

$(BUILD)/obj/client/%.o: client/%.c | deps
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(CLIENT_CFLAGS) -c $< -o $@

$(BIN)/vdi-client: $(CLIENT_OBJ) $(BUILD)/obj/guest/font_data.o $(BUILD)/obj/common/channel.o
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $^ -o $@ $(LDLIBS_CLIENT)

# make install [PREFIX=/usr/local] [DESTDIR=]: the thin client and its desktop entry, which also makes it the
# handler of vdi:// links (x-scheme-handler/vdi).
PREFIX ?= /usr/local
install: $(BIN)/vdi-client
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/applications
	install -m 0755 $(BIN)/vdi-client $(DESTDIR)$(PREFIX)/bin/vdi-client
	install -m 0644 client/data/vdi-client.desktop $(DESTDIR)$(PREFIX)/share/applications/vdi-client.desktop
	@if [ -z "$(DESTDIR)" ] && command -v update-desktop-database >/dev/null; then \
	  update-desktop-database -q $(PREFIX)/share/applications || true; fi
