# gpushare: `make` builds everything into build/, `make test` runs the suite,
# `make SANITIZE=address,undefined test` runs it under sanitizers, in
# build-san-address-undefined/: each configuration has its own directory, so
# switching between them never links objects of one into the other.

CC      ?= cc
comma   := ,
# A build directory named by hand keeps the SANITIZE it was first built with
# (`tests/shell/test-install.sh build-san-address-undefined` installs the
# sanitized tree, not a rebuilt plain one).
ifeq ($(origin SANITIZE)$(origin BUILD),undefinedcommand line)
SANITIZE := $(shell cat '$(BUILD)/sanitize' 2>/dev/null)
endif
SANITIZE ?=
BUILD   ?= build$(if $(SANITIZE),-san-$(subst $(comma),-,$(SANITIZE)))
WERROR  ?= 1

WARN    := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes
# snprintf into fixed buffers truncates on purpose
WARN    += -Wno-format-truncation
CFLAGS  ?= -O2 -g
CFLAGS  += -std=c11 -D_GNU_SOURCE -fPIC $(WARN) -MMD -MP
CFLAGS  += -Isrc/common -Isrc/model -Isrc/include -Isrc/sim -Isrc/smi -Isrc/interposer -Isrc/cli -Isrc/control -Isrc/slice -Isrc/k8s
ifeq ($(WERROR),1)
CFLAGS  += -Werror
endif
ifneq ($(SANITIZE),)
CFLAGS  += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
LDFLAGS += -fsanitize=$(SANITIZE)
endif

BIN := $(BUILD)/bin
LIB := $(BUILD)/lib
OBJ := $(BUILD)/obj
SIMLIB := $(LIB)/gpushare-sim

common_src := $(wildcard src/common/*.c)
model_src  := $(wildcard src/model/*.c)
slice_src  := $(wildcard src/slice/*.c)
smi_src    := $(wildcard src/smi/*.c)
# what a container in a slice gets: gpushare cdi generate's spec and the
# device plugin's Allocate answer, from one description
k8s_src    := src/k8s/container.c
cli_src    := $(wildcard src/cli/*.c) $(k8s_src)
# libyaml, for the configuration files of gpushare apply (scripts/deps.sh
# installs it); where it is not (a GPU node with the driver alone) gpushare
# builds without it and apply says so
YAML_LIBS ?= $(if $(shell printf '\043include <yaml.h>\n' | $(CC) -E - > /dev/null 2>&1 && echo y),-lyaml)
ifeq ($(YAML_LIBS),)
CFLAGS  += -DGS_NO_YAML
endif
# libmicrohttpd, for gpushare-control's Prometheus metrics (scripts/deps.sh
# installs it); without it the daemon is built all the same and says, when
# GPUSHARE_CONTROL_METRICS asks for metrics, that it has none
MHD_LIBS ?= $(if $(shell printf '\043include <microhttpd.h>\n' | $(CC) -E - > /dev/null 2>&1 && echo y),-lmicrohttpd)
ifeq ($(MHD_LIBS),)
CFLAGS  += -DGS_NO_MICROHTTPD
endif
control_src := $(wildcard src/control/*.c)
simnvml_src := src/sim/nvml-sim.c src/sim/simstate.c
simcuda_src := src/sim/cuda-sim.c src/sim/simstate.c
# the simulated GPU's CUPTI (what a trace's CUPTI backend loads there)
simcupti_src := src/sim/cupti-sim.c
interposer_src := $(wildcard src/interposer/*.c)

obj = $(patsubst %.c,$(OBJ)/%.o,$(1))

COMMON_A := $(LIB)/libgscommon.a
MODEL_A  := $(LIB)/libgsmodel.a
# the slice layer: the only code that changes slices (libc, model, common)
SLICE_A  := $(LIB)/libgsslice.a

# the Slurm plugin, where Slurm's spank.h is (libslurm-dev, which
# scripts/deps.sh installs)
HAVE_SPANK ?= $(if $(shell printf '\043include <slurm/spank.h>\n' | $(CC) -E - > /dev/null 2>&1 && echo y),y)
SPANK_PLUGIN := $(if $(HAVE_SPANK),$(LIB)/slurm/gpushare.so)
# the Kubernetes device plugin, where Debian's gRPC++ and protobuf are
# (scripts/deps.sh installs them): C++ for gRPC's generated services
CXX ?= c++
HAVE_GRPC ?= $(if $(shell command -v protoc > /dev/null && command -v grpc_cpp_plugin > /dev/null && pkg-config --exists grpc++ protobuf && \
	printf '\043include <grpcpp/grpcpp.h>\n' | $(CXX) -x c++ -E - > /dev/null 2>&1 && echo y),y)
K8S_PLUGIN := $(if $(HAVE_GRPC),$(BUILD)/bin/gpushare-device-plugin)
PROGRAMS := $(BIN)/gpushare-smi $(BIN)/gpushare $(BIN)/gpushare-control
INTERPOSER := $(LIB)/libgpushare.so
SIMLIBS  := $(SIMLIB)/libnvidia-ml.so.1 $(SIMLIB)/libcuda.so.1 $(SIMLIB)/libcupti.so
TESTS    := $(patsubst tests/%.c,$(BUILD)/tests/%,$(wildcard tests/test-*.c))
TOOLS    := $(patsubst tests/tools/%.c,$(BUILD)/tests/%,$(wildcard tests/tools/*.c)) $(BUILD)/tests/fake/libcuda.so.1

.PHONY: all runtime deps test unit fuzz clean demo install FORCE
all: runtime $(TESTS) $(TOOLS) man

# The flags the objects were built with: where they change (a BUILD given by
# hand for two configurations, other CFLAGS), everything is built again.
CONFIG := $(BUILD)/config
CONFIG_LINE := $(CC) $(CFLAGS) $(LDFLAGS)
$(CONFIG): FORCE
	@mkdir -p $(dir $@)
	@echo '$(CONFIG_LINE)' | cmp -s - $@ || echo '$(CONFIG_LINE)' > $@
	@echo '$(SANITIZE)' | cmp -s - $(BUILD)/sanitize || echo '$(SANITIZE)' > $(BUILD)/sanitize
srcs = $(filter-out $(CONFIG),$^)

# what a GPU node needs: the programs and the libraries, no test framework
runtime: $(PROGRAMS) $(INTERPOSER) $(SIMLIBS) $(SPANK_PLUGIN) $(K8S_PLUGIN)

$(OBJ)/%.o: %.c $(CONFIG)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(COMMON_A): $(call obj,$(common_src))
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(MODEL_A): $(call obj,$(model_src))
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(SLICE_A): $(call obj,$(slice_src))
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(BIN)/gpushare-smi: $(call obj,$(smi_src)) $(SLICE_A) $(MODEL_A) $(COMMON_A)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ -ldl

$(BUILD)/gen-version-script: tools/gen-version-script.c src/include/gs-cuda.h
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -Isrc/include -o $@ $<

$(BUILD)/libgpushare.map: $(BUILD)/gen-version-script
	$< > $@

# the interposer: libc, libdl, the slice layer and the common layer only;
# exports only the version script's names
$(INTERPOSER): $(call obj,$(interposer_src)) $(SLICE_A) $(MODEL_A) $(COMMON_A) $(BUILD)/libgpushare.map
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -shared -Wl,-soname,libgpushare.so -Wl,-z,defs -Wl,--version-script=$(BUILD)/libgpushare.map \
		-o $@ $(call obj,$(interposer_src)) $(SLICE_A) $(MODEL_A) $(COMMON_A) -ldl -lpthread

# slurmstepd and slurmd load it: built without the sanitizers (their runtime
# is not in those programs), from its own sources and the few of the common
# layer it needs; exports only what SPANK looks up (spank_* and slurm_*
# come from the Slurm program that loads it)
spank_src := src/slurm/spank-gpushare.c src/common/sock.c src/common/gs.c
$(LIB)/slurm/gpushare.so: $(spank_src) src/slurm/spank.map $(CONFIG)
	@mkdir -p $(dir $@)
	$(CC) $(filter-out -fsanitize=% -fno-sanitize-recover=% -MMD -MP,$(CFLAGS)) -shared \
		-Wl,--version-script=src/slurm/spank.map -o $@ $(spank_src)

K8S_GEN := $(BUILD)/k8s/deviceplugin.pb.cc $(BUILD)/k8s/deviceplugin.grpc.pb.cc
$(K8S_GEN) &: src/k8s/deviceplugin.proto
	@mkdir -p $(BUILD)/k8s
	protoc -Isrc/k8s --cpp_out=$(BUILD)/k8s --grpc_out=$(BUILD)/k8s \
		--plugin=protoc-gen-grpc=$$(command -v grpc_cpp_plugin) $<
$(BUILD)/bin/gpushare-device-plugin: src/k8s/device-plugin.cc src/k8s/container.h $(K8S_GEN) \
		$(call obj,$(k8s_src)) $(SLICE_A) $(MODEL_A) $(COMMON_A)
	@mkdir -p $(dir $@)
	$(CXX) -std=c++17 -O2 -g -Wall -Wextra $(filter -fsanitize=% -fno-sanitize-recover=% -fno-omit-frame-pointer,$(CFLAGS)) \
		-I$(BUILD)/k8s -Isrc/k8s -DGS_LIBDIR='"$(PREFIX)/lib/gpushare"' -o $@ \
		src/k8s/device-plugin.cc $(K8S_GEN) $(call obj,$(k8s_src)) $(SLICE_A) $(MODEL_A) $(COMMON_A) \
		$(LDFLAGS) $$(pkg-config --libs grpc++ protobuf) -ldl -lpthread

$(BIN)/gpushare-control: $(call obj,$(control_src)) $(SLICE_A) $(MODEL_A) $(COMMON_A)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(MHD_LIBS) -lpthread

$(BIN)/gpushare: $(call obj,$(cli_src)) $(SLICE_A) $(MODEL_A) $(COMMON_A)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(YAML_LIBS) -ldl

$(SIMLIB)/libnvidia-ml.so.1: $(call obj,$(simnvml_src)) $(SLICE_A) $(MODEL_A) $(COMMON_A)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -shared -Wl,-soname,libnvidia-ml.so.1 -Wl,-z,defs -Wl,-Bsymbolic -o $@ $^ -lpthread
	ln -sf libnvidia-ml.so.1 $(SIMLIB)/libnvidia-ml.so

$(SIMLIB)/libcuda.so.1: $(call obj,$(simcuda_src)) $(MODEL_A) $(COMMON_A)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -shared -Wl,-soname,libcuda.so.1 -Wl,-z,defs -Wl,-Bsymbolic -o $@ $^ -lpthread
	ln -sf libcuda.so.1 $(SIMLIB)/libcuda.so

$(SIMLIB)/libcupti.so: $(call obj,$(simcupti_src))
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -shared -Wl,-soname,libcupti.so -Wl,-z,defs -Wl,-Bsymbolic -o $@ $^ -ldl -lpthread

$(BUILD)/tests/test-interposer: tests/test-interposer.c $(interposer_src) $(SLICE_A) $(MODEL_A) $(COMMON_A) $(CONFIG)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -DGS_TEST_BUILD -Itests $(LDFLAGS) -o $@ $(srcs) -lcmocka -ldl -lpthread

# the config parser of `gpushare apply` needs libyaml
$(BUILD)/tests/test-migconfig: tests/test-migconfig.c $(call obj,src/cli/migconfig.c) $(SLICE_A) $(MODEL_A) $(COMMON_A) $(CONFIG)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests $(LDFLAGS) -o $@ $(srcs) -lcmocka $(YAML_LIBS) -ldl -lpthread

# the daemon's busy time, alone (its look interval stubbed)
$(BUILD)/tests/test-busy: tests/test-busy.c $(call obj,src/control/busy.c) $(SLICE_A) $(MODEL_A) $(COMMON_A) $(CONFIG)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests $(LDFLAGS) -o $@ $(srcs) -lcmocka -ldl -lpthread

$(BUILD)/tests/test-%: tests/test-%.c $(SLICE_A) $(MODEL_A) $(COMMON_A) $(CONFIG)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests $(LDFLAGS) -o $@ $(srcs) -lcmocka -ldl -lpthread

# the TPC map calibration of gpushare-control, driven alone; and a driver
# that hangs or crashes for it to survive
$(BUILD)/tests/tpcmap-calibrate: tests/tools/tpcmap-calibrate.c $(call obj,src/control/calibrate.c) $(SLICE_A) $(MODEL_A) $(COMMON_A) $(CONFIG)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests $(LDFLAGS) -o $@ $(srcs) -ldl -lpthread

$(BUILD)/tests/fake/libcuda.so.1: tests/tools/fake/libcuda-fake.c src/include/gs-cuda.h $(CONFIG)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -shared -Wl,-soname,libcuda.so.1 -o $@ $<

$(BUILD)/tests/%: tests/tools/%.c $(call obj,src/sim/simstate.c) $(SLICE_A) $(MODEL_A) $(COMMON_A) $(CONFIG)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests $(LDFLAGS) -o $@ $(srcs) -ldl -lpthread

# the manual pages (mdoc), gzipped without a name or time stamp so that the
# build is reproducible
MAN1 := $(patsubst docs/man/%,$(BUILD)/share/man/man1/%.gz,$(wildcard docs/man/*.1))
MAN7 := $(patsubst docs/man/%,$(BUILD)/share/man/man7/%.gz,$(wildcard docs/man/*.7))
.PHONY: man
man: $(MAN1) $(MAN7)

$(BUILD)/share/man/man1/%.gz: docs/man/%
	@mkdir -p $(dir $@)
	gzip -n -9 < $< > $@.tmp && mv $@.tmp $@

$(BUILD)/share/man/man7/%.gz: docs/man/%
	@mkdir -p $(dir $@)
	gzip -n -9 < $< > $@.tmp && mv $@.tmp $@

deps:
	@scripts/deps.sh

test: deps
	@$(MAKE) --no-print-directory all
	@scripts/run-tests.sh $(BUILD)

unit: $(TESTS)
	@for t in $(TESTS); do echo "== $$t"; $$t || exit 1; done

fuzz:
	@scripts/fuzz.sh $(BUILD) 10

# what a GPU node needs, under PREFIX: the programs in bin/, libgpushare.so
# and the simulated driver in lib/gpushare/ (where the programs look), a
# link nvidia-cuda-mps-control -> gpushare-control in lib/gpushare/mps-compat/, the
# manual pages in share/man/, the systemd units (contrib/systemd/, @BINDIR@
# made $(PREFIX)/bin) in lib/systemd/system/, the example configuration and
# /etc/default/gpushare in share/doc/gpushare/examples/ (nothing in /etc)
PREFIX ?= /usr/local
UNITS := $(wildcard contrib/systemd/*.service)
install: runtime man
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/gpushare/sim
	install -m 755 $(PROGRAMS) $(DESTDIR)$(PREFIX)/bin/
	# gpushare-control under NVIDIA's name, in a directory of its own so
	# that it never shadows NVIDIA's binary unless put first on PATH
	install -d $(DESTDIR)$(PREFIX)/lib/gpushare/mps-compat
	ln -sf ../../../bin/gpushare-control $(DESTDIR)$(PREFIX)/lib/gpushare/mps-compat/nvidia-cuda-mps-control
	install -m 755 $(INTERPOSER) $(DESTDIR)$(PREFIX)/lib/gpushare/
	$(if $(K8S_PLUGIN),install -m 755 $(K8S_PLUGIN) $(DESTDIR)$(PREFIX)/bin/)
	$(if $(SPANK_PLUGIN),install -d $(DESTDIR)$(PREFIX)/lib/gpushare/slurm && \
		install -m 755 $(SPANK_PLUGIN) $(DESTDIR)$(PREFIX)/lib/gpushare/slurm/)
	install -m 755 $(SIMLIBS) $(DESTDIR)$(PREFIX)/lib/gpushare/sim/
	ln -sf libnvidia-ml.so.1 $(DESTDIR)$(PREFIX)/lib/gpushare/sim/libnvidia-ml.so
	ln -sf libcuda.so.1 $(DESTDIR)$(PREFIX)/lib/gpushare/sim/libcuda.so
	install -d $(DESTDIR)$(PREFIX)/share/man/man1 $(DESTDIR)$(PREFIX)/share/man/man7
	install -m 644 $(MAN1) $(DESTDIR)$(PREFIX)/share/man/man1/
	install -m 644 $(MAN7) $(DESTDIR)$(PREFIX)/share/man/man7/
	install -d $(DESTDIR)$(PREFIX)/lib/systemd/system $(DESTDIR)$(PREFIX)/share/doc/gpushare/examples
	for u in $(UNITS); do \
		sed 's|@BINDIR@|$(PREFIX)/bin|g' $$u > $(DESTDIR)$(PREFIX)/lib/systemd/system/$${u##*/} && \
		chmod 644 $(DESTDIR)$(PREFIX)/lib/systemd/system/$${u##*/} || exit 1; \
	done
	install -m 644 contrib/gpushare.yaml $(DESTDIR)$(PREFIX)/share/doc/gpushare/examples/gpushare.yaml
	install -m 644 contrib/default-gpushare $(DESTDIR)$(PREFIX)/share/doc/gpushare/examples/default-gpushare

demo: deps
	@$(MAKE) --no-print-directory all
	@scripts/demo.sh $(BUILD)

clean:
	rm -rf $(BUILD)

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
