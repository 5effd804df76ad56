#!/usr/bin/env bash
# fuzz.sh BUILD SECONDS: builds the libFuzzer targets with clang and runs each
# for SECONDS from its corpus. A crash or a failed check fails the run.
set -eu -o pipefail # a target that crashes fails the run, through its pipe into tail
build=$1; secs=${2:-10}
out="$build/fuzz"; mkdir -p "$out"
cc=${FUZZ_CC:-clang}
srcs="src/common/gs.c src/common/kubeenv.c src/common/cvd.c src/common/store.c src/common/line.c src/common/json.c src/common/mpsval.c src/model/gpumodel.c src/model/mig.c src/model/profile-arg.c src/model/smrun.c src/model/tpcmap.c src/model/tpcmask.c src/model/smpolicy.c"
for target in fuzz/fuzz-*.c; do
	name=$(basename "$target" .c)
	extra=""; libs=""; maxlen=512
	# a whole GPU's TPC map (an H200's is about 1 KB)
	[ "$name" = fuzz-tpcmask ] && maxlen=4096
	# the config of gpushare apply: libyaml, and its header beside the CLI's
	[ "$name" = fuzz-migconfig ] && extra="-Isrc/cli src/cli/migconfig.c" && libs="-lyaml"
	# gpushare top's frame: the reader, then the slice layer's SHARING text
	[ "$name" = fuzz-json ] && maxlen=4096 && extra="-Isrc/cli src/cli/topframe.c src/slice/slices.c src/slice/slice.c src/slice/gpus.c src/common/ledger.c src/common/secdir.c src/common/sock.c"
	# kernel traces: the reader, the merge of a job's parts and the figure
	[ "$name" = fuzz-trace ] && maxlen=4096 && extra="-Isrc/cli src/cli/tracefile.c src/cli/timeline.c"
	[ "$name" = fuzz-control-dispatch ] && extra="src/control/commands.c src/control/mps.c src/control/servers.c src/control/server.c src/control/cmd-servers.c src/control/cmd-slices.c src/control/placement.c src/control/exec.c src/control/elastic.c src/control/turns.c src/control/suspend.c src/control/migrate.c src/control/memturn.c src/control/lend.c src/control/records.c src/control/calibrate.c src/control/busy.c src/slice/slice.c src/slice/slices.c src/slice/gpus.c src/common/ledger.c src/common/secdir.c src/common/sock.c"
	"$cc" -g -O1 -std=c11 -D_GNU_SOURCE -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
		-Isrc/common -Isrc/model -Isrc/include -Isrc/slice -Isrc/control -o "$out/$name" "$target" $srcs $extra $libs
	corpus="$out/corpus-${name#fuzz-}"; mkdir -p "$corpus"
	cp -n fuzz/corpus/"${name#fuzz-}"/* "$corpus"/ 2>/dev/null || true
	echo "== $name (${secs}s)"
	"$out/$name" -max_total_time="$secs" -max_len="$maxlen" -print_final_stats=0 -artifact_prefix="$out/$name-" "$corpus" 2>&1 | tail -n 2
done
