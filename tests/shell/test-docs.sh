#!/usr/bin/env bash
# test-docs.sh BUILD: every command block of README.md and docs/*.md runs as
# written, on the simulated GPU, so the docs cannot rot.
#
# The convention (README.md, "Layout", says it in one sentence):
# - a ```sh block holds commands: they are run. Each file's blocks run in
#   order in one bash session of their own (variables set by one block, such
#   as slice=$(...), are there for the next), each command stopping the
#   session when it fails, as under set -e (pipefail on): the test reports
#   the file:line of the command, its exit status and its output. A command
#   is a line, with its continuation lines until bash can parse it; blank
#   lines and lines that are only a comment are not commands.
# - a ```text block is output, never run. After a ```sh block (prose may
#   come between, no other block) it shows what that block printed: each of
#   its lines must be a line of that output, in the same order (other lines
#   may come between; runs of blanks count as one; <anything> in angle
#   brackets stands for any text, e.g. MIG-<uuid>). Elsewhere it is only
#   shown.
# - any other fence, a bare ``` included, fails the test: say which it is.
#
# A command is run as written, except where a table below says otherwise:
# SAFE_FORMS runs another command in its place (e.g. make install under a
# private /usr/local), NOT_RUN names a command that cannot run here and why.
# Nothing is skipped without a line in the log saying so and why, and every
# entry of every table must still match a command of the docs. EXPECT checks
# a command's key output. KNOWN_BROKEN lists commands (FILE:LINE) that fail
# because of a bug in the code, not in the docs: they are run, their failure
# is shown and tolerated; once one works the test fails until it is taken out.
#
# The sessions' world:
# - the simulated A100-SXM4-40GB, each file with its own state, pipe, log and
#   simulator directories (sim_env), PATH with $BUILD/bin first;
# - the working directory holds a train.py, and `python` (a stand-in, on PATH
#   after $BUILD/bin, so that gpushare run finds it too) runs `python
#   train.py` as $BUILD/tests/cuda-app train, a simulated CUDA program printing
#   the SMs and memory it sees, then launching 20 kernels (docs/trace.md
#   traces them); it runs nothing else;
# - as root, the users the docs name (alice, bob) are real users, made with
#   useradd when missing and removed at the end; each session runs in a
#   private mount namespace where /usr/local and /etc are overlays (and
#   /tmp/gpushare, the default daemon's directory, a fresh tmpfs), so that
#   make install PREFIX=/usr/local and gpushare preload install run for real
#   and leave nothing on the machine. Not root (or no unshare): the blocks
#   that need that are not run, and the log says so.
# The daemon a session started is quit, its servers and the session's
# directories removed, also when a command failed; a session has 120 s.
# With a sanitized interposer (which cannot be preloaded into the docs'
# programs) the test says skip, as the interposer's other tests do.
# GS_DOCS_FILES="docs/a.md /tmp/README.md" runs other files (relative to the
# repository, or absolute: then known by their base name, a broken copy of
# the README as README.md) and leaves out the check that every table entry
# is used.
set -u
build=$(cd "$1" && pwd)
cd "$(dirname "$0")/../.."
repo=$(pwd)
. tests/shell/lib.sh
need_preload # gpushare run starts the docs' programs under libgpushare.so
sim_env
export PATH="$build/bin:$work/bin:${PATH#"$build/bin:"}"
files=${GS_DOCS_FILES:-README.md $(ls docs/*.md)}

# pattern (an extended regex on a command's first line) / what runs instead / why
SAFE_FORMS=(
	'^make demo$'
	'(cd "$GS_REPO" && scripts/demo.sh "$GS_BUILD")'
	'make demo first installs Debian packages (scripts/deps.sh) and builds; what it then runs is scripts/demo.sh on the built tree, run here'

	'^SIM=1 bench/seed-workload/run\.sh docs/figures && rm docs/figures/\*\.json$'
	'SIM=1 "$GS_REPO/bench/seed-workload/run.sh" figures && rm figures/*.json'
	'it writes the figures of the repository (docs/figures): here the same run writes them into the session'"'"'s directory'

	'^make install PREFIX=/usr/local$'
	'make -s -C "$GS_REPO" -o runtime install BUILD="$GS_BUILD" PREFIX=/usr/local && export PATH="/usr/local/bin:$PATH"'
	'the tree under test as it was built (BUILD; -o runtime: nothing rebuilt), into this session'"'"'s private /usr/local; then /usr/local/bin first on PATH, as on the administrator'"'"'s node'
)
# pattern / why it is not run
NOT_RUN=(
	'^make test$'
	'it is the suite this test is part of (scripts/run-tests.sh): it would run itself'

	'^(srun|sbatch) '
	'it needs a Slurm cluster: tests/shell/test-slurm.sh runs these jobs (the block after "test-slurm.sh runs") as a user in the cluster it starts'

	'^kubectl '
	'it needs a Kubernetes cluster: tests/shell/test-k8s.sh runs gpushare-device-plugin with the DaemonSet'"'"'s arguments under a fake kubelet speaking the kubelet'"'"'s protocol, and starts containers as Allocate answers'
)
# what a block needs / pattern (on each command of the block) / why
NEEDS=(
	users '(^|[^[:alnum:]_-])(alice|bob)([^[:alnum:]_-]|$)'
	'it runs programs as alice and bob, real users, made by the test only as root'

	private '^((make install|gpushare preload (install|remove))( |$)|cat >> /etc/|mkdir -p /etc/|gpushare cdi generate --output /etc/)'
	'it installs into /usr/local and changes /etc (ld.so.preload, the Slurm files, CDI specs), which the test does only as root, in a private mount namespace'
)
# file / pattern (on a command's first line) / a condition, evaluated after
# the command in its session: has ERE greps the command's output
EXPECT=(
	README.md '^gpushare-smi -i 0 -mig 1 ' 'has "^Enabled MIG Mode for GPU"'
	README.md '^gpushare-smi mig -cgi 3g\.20gb,48sm\.16gb -C ' 'has "^Successfully created GPU instance ID +[0-9]+ on GPU +0 using custom profile 48sm\.16gb$"'
	README.md '^slice=\$\(gpushare-smi -L ' '[[ $slice =~ ^MIG-[0-9a-f-]{36}$ ]]'
	README.md '^gpushare run --slice "\$slice" -- python train\.py' 'has "^sms 48$" && has "^mem_total_mib 16384$"'
	README.md '^gpushare status' 'has "^SLICE " && has "^MIG-.* 48 +16384MiB "'
	README.md '^gpushare-smi mig -dci && gpushare-smi mig -dgi' 'has "^Successfully destroyed GPU instance ID +15 from GPU +0$"'
	README.md '^gpushare run --memory 8G --sms 32 -- python train\.py' 'has "^sms 32$" && has "^mem_total_mib 8192$"'
	README.md '^gpushare-control -d$' '[ -S "$GPUSHARE_PIPE_DIRECTORY/control" ]'
	README.md '^slice=\$\(echo "create_slice 64 24G -users alice,bob"' '[[ $slice =~ ^MIG-[0-9a-f-]{36}$ ]]'
	README.md '^echo "create_slice 32 40G -overcommit -guarantee 8G"' 'has "^MIG-[0-9a-f-]{36}$"'
	README.md '^runuser -u alice -- gpushare run --slice "\$slice" -- python train\.py' 'has "^sms 64$" && has "^mem_total_mib 24576$"'
	README.md '^echo list_clients \| gpushare-control' 'has "^PID +[A-Z]+ +SERVER +MEMORY .*SLICE"'
	README.md '^gpushare apply -f gpushare\.yaml -c all-balanced --dry-run' 'has "^GPU 0: create MIG 3g\.20gb" && has "dry run: nothing was changed"'
	README.md '^gpushare apply -f gpushare\.yaml -c all-balanced  ' 'has "^GPU 0: create MIG 1g\.5gb" && [ "$(gpushare-smi mig -lgi | grep -c "MIG ")" = 4 ]'
	README.md '^gpushare assert -f gpushare\.yaml -c all-balanced' 'has "^the GPUs match config \"all-balanced\""'
	README.md '^gpushare apply -f gpushare\.yaml -c shared' 'has "create MIG 64sm\.24gb .*named train-a" && has "remove MIG 3g\.20gb"'
	README.md '^gpushare export' 'has "^version: v1$" && has "name: \"train-a\""'
	README.md '^echo "resize_slice \$slice 48 16G"' 'has "^Resized slice $slice: 48 SMs from SM [0-9]+, 16384 MiB$"'
	README.md '^echo quit \| gpushare-control' '[ ! -e "$GPUSHARE_PIPE_DIRECTORY/control" ]'
	README.md '^make demo$' 'has "^Successfully created GPU instance" && has "^Destroyed slice MIG-"'
	README.md '^make install PREFIX=/usr/local$' '[ -x /usr/local/bin/gpushare ] && [ -f /usr/local/lib/gpushare/libgpushare.so ]'
	README.md '^gpushare preload install' 'grep -qxF /usr/local/lib/gpushare/libgpushare.so /etc/ld.so.preload'
	README.md '^gpushare preload status' 'has "^preloaded: /usr/local/lib/gpushare/libgpushare.so in /etc/ld.so.preload$"'
	docs/control.md '^gpushare run --slice "\$slice" -- python train\.py' 'has "^sms 16$" && has "^mem_total_mib 8192$"'
	docs/trace.md '^gpushare run --trace trace\.json -- python train\.py' 'has "^launches 20$" && "$(command -v python3)" -m json.tool trace.json > /dev/null'
	docs/trace.md '^gpushare timeline trace\.json -o timeline\.svg' 'xmllint --noout timeline.svg && grep -q "20 kernels of 1 processes" timeline.svg'
	docs/trace.md '^gpushare timeline two\.json -o two\.svg' 'xmllint --noout two.svg && [ "$(grep -c "class=\"legend\"" two.svg)" = 2 ]'
	docs/trace.md '^gpushare timeline two\.json --by slice' 'grep -q "by slice" two-slices.svg'
	docs/trace.md '^SIM=1 bench/seed-workload/run\.sh' 'for m in timeslice turns mps mig mig-shared; do xmllint --noout figures/$m-sm.svg figures/$m-slice.svg || exit 1; done'
	docs/control.md '^echo get_server_list \| gpushare-control' 'has "^[0-9]+$"'
	docs/control.md '^echo list_slices \| gpushare-control' 'has "^SLICE " && has "^$slice .* 32 +8192MiB +8192MiB .* refuse "'
	docs/control.md '^echo "list_slices" \| gpushare-control' 'has "^SLICE .* POLICY +SHARING +BUSY " && has " infer .* queue +isolated,critical +no " && has " batch .* queue +best-effort,floor=16 +no "'
	docs/control.md '^echo "set_slice_sm_policy infer -lend on"' 'has "^gpushare-control: An isolated slice neither lends nor borrows SMs" && has "^refused: nothing changed$"'
)
# FILE:LINE of a command (or of a text block) that fails because of a bug in
# the code, not in the docs, then what fails; one entry a line, e.g.
#	'README.md:55 gpushare run --slice: the program sees the whole GPU'
# Take an entry out once the code is fixed (the test says so).
KNOWN_BROKEN=(
)

# The session library: what every session script sources first. Each command
# of the docs becomes
#   __gs_begin FILE:LINE 'first line'; set -e; { command
#   } > "$__gs_out" 2>&1 < /dev/null; __gs_rc=$?; set +e
#   __gs_expect 'condition'...; __gs_done KNOWN
# in the session's own shell, so what it sets (slice=..., cd, export) stays.
cat > "$work/session-lib.sh" << 'LIB'
set -o pipefail
exec 3>&1 4>&2 # the log, also from inside a command's redirection
__gs_out=$GS_SESSION/out __gs_block_out=$GS_SESSION/block-out
__gs_loc="" __gs_cmd="" __gs_bad="" __gs_rc=0 __gs_fails=0 __gs_complete=0
: > "$__gs_block_out"
has() { grep -Eq -- "$1" "$__gs_out"; }
__gs_show() { tail -n 40 "${1:-$__gs_out}" | sed 's/^/     | /' >&3; }
__gs_block() { : > "$__gs_block_out"; }
__gs_begin() {
	__gs_loc=$1 __gs_cmd=$2 __gs_bad="" __gs_rc=0
	echo "$1 $2" > "$GS_SESSION/at"
	: > "$__gs_out"
}
__gs_not_run() {
	echo "skip $__gs_loc $__gs_cmd: $1" >&3
	__gs_loc=""
}
__gs_instead() { echo "     $__gs_loc runs, in place of $__gs_cmd: $1 ($2)" >&3; }
__gs_expect() { eval "$1" || __gs_bad+="${__gs_bad:+; }not true: $1"; }
__gs_done() {
	cat "$__gs_out" >> "$__gs_block_out"
	[ "$__gs_rc" = 0 ] || __gs_bad="exit $__gs_rc${__gs_bad:+; }$__gs_bad"
	if [ "$1" = 1 ] && [ -n "$__gs_bad" ]; then
		echo "known $__gs_loc $__gs_cmd: $__gs_bad (KNOWN_BROKEN: a bug in the code)" >&3
		__gs_show
	elif [ "$1" = 1 ]; then
		echo "FAIL $__gs_loc $__gs_cmd: works now, take it out of KNOWN_BROKEN" >&3
		__gs_fails=$((__gs_fails + 1))
	elif [ -n "$__gs_bad" ]; then
		echo "FAIL $__gs_loc: $__gs_cmd: $__gs_bad" >&3
		__gs_show
		__gs_fails=$((__gs_fails + 1)) __gs_loc=""
		exit 1
	else
		echo "ok   $__gs_loc $__gs_cmd" >&3
	fi
	__gs_loc=""
}
# __gs_text FILE:LINE KNOWN <<lines: the lines, in order, among what the
# block before printed
__gs_text() {
	local loc=$1 known=$2 missing
	cat > "$GS_SESSION/want"
	missing=$(awk '
		function norm(s) { gsub(/[ \t]+/, " ", s); sub(/^ /, "", s); sub(/ $/, "", s); return s }
		# line matches want, where <anything> in want stands for any text
		function matches(line, want,   seg, n, k, pos, i, rest) {
			n = split(want, seg, /<[^<>]+>/)
			if (n == 1) return line == want
			if (substr(line, 1, length(seg[1])) != seg[1]) return 0
			pos = length(seg[1]) + 1
			for (k = 2; k < n; k++) {
				i = index(substr(line, pos), seg[k])
				if (!i) return 0
				pos += i - 1 + length(seg[k])
			}
			rest = substr(line, pos)
			return length(rest) >= length(seg[n]) && substr(rest, length(rest) - length(seg[n]) + 1) == seg[n]
		}
		FNR == NR { w = norm($0); if (w != "") want[++nw] = w; next }
		{ have[++nh] = norm($0) }
		END {
			j = 1
			for (k = 1; k <= nw; k++) {
				while (j <= nh && !matches(have[j], want[k])) j++
				if (j > nh) { print want[k]; exit }
				j++
			}
		}' "$GS_SESSION/want" "$__gs_block_out")
	if [ -z "$missing" ] && [ "$known" = 1 ]; then
		echo "FAIL $loc: output block: works now, take it out of KNOWN_BROKEN" >&3
		__gs_fails=$((__gs_fails + 1))
	elif [ -z "$missing" ]; then
		echo "ok   $loc output as shown" >&3
	else
		echo "$([ "$known" = 1 ] && echo known || echo FAIL) $loc: the block above printed no line \"$missing\" (in this order); it printed:" >&3
		__gs_show "$__gs_block_out"
		[ "$known" = 1 ] || __gs_fails=$((__gs_fails + 1))
	fi
}
# the session's daemon and its servers: quit, then killed by pid if still there
__gs_cleanup() {
	local pidf=$GPUSHARE_PIPE_DIRECTORY/gpushare-control.pid pid servers p ctl=$GS_BUILD/bin/gpushare-control
	[ -f "$pidf" ] && pid=$(cat "$pidf") && kill -0 "$pid" 2> /dev/null || return 0
	servers=$(echo get_server_list | timeout 5 "$ctl" 2> /dev/null | grep -E '^[0-9]+$')
	echo $pid $servers > "$GS_SESSION/pids"
	echo quit | timeout 10 "$ctl" > /dev/null 2>&1
	for p in $pid $servers; do kill -0 "$p" 2> /dev/null && kill -9 "$p"; done
	rm -f "$GS_SESSION/pids"
}
__gs_exit() {
	local rc=$1
	exec >&3 2>&4
	if [ -n "$__gs_loc" ]; then
		echo "FAIL $__gs_loc: $__gs_cmd: exit $rc"
		__gs_show
		__gs_fails=$((__gs_fails + 1))
	fi
	__gs_cleanup
	# (a bare exit in a trap would exit with the status from before the trap)
	[ "$__gs_complete" = 1 ] && [ "$__gs_fails" = 0 ] && exit 0
	exit 1
}
__gs_end_of_file() { __gs_complete=1; }
trap '__gs_exit $?' EXIT
# private /usr/local, /etc and /tmp/gpushare, never the machine's
if [ "$GS_PRIVATE" = 1 ]; then
	if [ "$(readlink /proc/self/ns/mnt)" = "$GS_OUTER_NS" ]; then
		echo "FAIL $GS_NAME: not in a private mount namespace, nothing run"
		exit 1
	fi
	ns=$GS_SESSION/ns
	mkdir -p "$ns/usr" "$ns/usr.w" "$ns/etc" "$ns/etc.w"
	mount -t overlay gs-docs-usr -o "lowerdir=/usr/local,upperdir=$ns/usr,workdir=$ns/usr.w" /usr/local 2> /dev/null ||
		mount -t tmpfs -o mode=0755 gs-docs-usr /usr/local || { echo "FAIL $GS_NAME: no private /usr/local"; exit 1; }
	mount -t overlay gs-docs-etc -o "lowerdir=/etc,upperdir=$ns/etc,workdir=$ns/etc.w" /etc 2> /dev/null ||
		{ cp -a /etc "$ns/etc.copy" && mount --bind "$ns/etc.copy" /etc; } || { echo "FAIL $GS_NAME: no private /etc"; exit 1; }
	if [ -d /tmp/gpushare ]; then mount -t tmpfs -o mode=0755 gs-docs-pipe /tmp/gpushare || exit 1; fi
fi
LIB

declare -A safe_used=() notrun_used=() expect_used=() kb_used=()
kb_of() { # kb_of FILE:LINE: whether KNOWN_BROKEN lists it
	local e
	for e in ${KNOWN_BROKEN[@]+"${KNOWN_BROKEN[@]}"}; do [ "${e%% *}" = "$1" ] && return 0; done
	return 1
}
q() { printf '%q' "$1"; }

# gen FILE SCRIPT NAME: the session script of FILE's blocks (NAME: the file
# as reported); says FAIL and returns 1 for a block the convention refuses
gen() {
	local file=$1 out=$2 name=$3 bad=0 n=0 l in=0 lang="" start=0 after_sh=0 known
	local -a body=() at=()
	exec 5> "$out"
	echo "# the blocks of $name, made by tests/shell/test-docs.sh" >&5
	echo ". $(q "$work/session-lib.sh")" >&5
	while IFS= read -r l || [ -n "$l" ]; do
		n=$((n + 1))
		if [ $in = 0 ] && [[ $l =~ ^[[:space:]]*\`\`\`[[:space:]]*([^[:space:]]*) ]]; then
			in=1 lang=${BASH_REMATCH[1]} start=$n body=() at=()
		elif [ $in = 1 ] && [[ $l =~ ^[[:space:]]*\`\`\`[[:space:]]*$ ]]; then
			in=0
			case "$lang" in
			sh)
				gen_sh "$name" "$start" || bad=1
				after_sh=1
				continue
				;;
			text | console)
				if [ $after_sh = 1 ]; then
					known=0
					kb_of "$name:$start" && known=1 kb_used[$name:$start]=1
					echo "__gs_text $(q "$name:$start") $known <<'__GS_TEXT'" >&5
					[ ${#body[@]} = 0 ] || printf '%s\n' "${body[@]}" >&5
					echo "__GS_TEXT" >&5
				else
					echo "echo $(q "     $name:$start: output after no sh block: shown only, not checked") >&3" >&5
				fi
				;;
			*)
				echo "FAIL $name:$start: a block fenced \`\`\`${lang:-(nothing)}: mark it sh (commands, run) or text (output)"
				bad=1
				;;
			esac
			after_sh=0
		elif [ $in = 1 ]; then
			body+=("$l") at+=("$n")
		fi
	done < "$file"
	if [ $in = 1 ]; then
		echo "FAIL $name:$start: a block that is never closed"
		bad=1
	fi
	echo "__gs_end_of_file" >&5
	exec 5>&-
	return $bad
}

# incomplete CMD: whether CMD needs more lines: bash cannot parse it, or a
# here-document in it has not ended
incomplete() {
	local why
	why=$(bash -n -c "$1" 2>&1) || return 0
	[[ $why == *here-document* ]]
}

# gen_sh NAME START: the commands of the sh block in body/at
gen_sh() {
	local name=$1 start=$2 i k cmd first loc need="" why="" safe notrun known
	local -a expects
	# what the block needs that this run may not have
	for ((i = 0; i < ${#body[@]}; i++)); do
		for ((k = 0; k < ${#NEEDS[@]}; k += 3)); do
			[[ ${body[i]} =~ ${NEEDS[k + 1]} ]] || continue
			case "${NEEDS[k]}" in
			users) [ $have_users = 1 ] || need="no users made" why=${NEEDS[k + 2]} ;;
			private) [ $have_private = 1 ] || need="no private mount namespace" why=${NEEDS[k + 2]} ;;
			esac
		done
	done
	echo "__gs_block" >&5
	for ((i = 0; i < ${#body[@]}; i++)); do
		[[ ${body[i]} =~ ^[[:space:]]*(#.*)?$ ]] && continue
		cmd=${body[i]} first=${body[i]} loc="$name:${at[i]}"
		# continuation lines, until bash can parse the command (a here-document
		# to its end: bash takes one cut short with a warning only)
		while { [[ $cmd == *\\ ]] || incomplete "$cmd"; } && [ $((i + 1)) -lt ${#body[@]} ]; do
			i=$((i + 1))
			cmd+=$'\n'${body[i]}
		done
		if ! bash -n -c "$cmd" 2> /dev/null; then
			echo "FAIL $loc: not a whole shell command: $first"
			return 1
		fi
		safe="" notrun=""
		for ((k = 0; k < ${#SAFE_FORMS[@]}; k += 3)); do
			[[ $first =~ ${SAFE_FORMS[k]} ]] && safe=$k safe_used[$k]=1
		done
		for ((k = 0; k < ${#NOT_RUN[@]}; k += 2)); do
			[[ $first =~ ${NOT_RUN[k]} ]] && notrun=$k notrun_used[$k]=1
		done
		expects=()
		for ((k = 0; k < ${#EXPECT[@]}; k += 3)); do
			[ "${EXPECT[k]}" = "$name" ] && [[ $first =~ ${EXPECT[k + 1]} ]] || continue
			expect_used[$k]=1 expects+=("${EXPECT[k + 2]}")
		done
		echo "__gs_begin $(q "$loc") $(q "$first")" >&5
		if [ -n "$notrun" ]; then
			echo "__gs_not_run $(q "not run: ${NOT_RUN[notrun + 1]}")" >&5
			continue
		fi
		if [ -n "$need" ]; then
			echo "__gs_not_run $(q "not run here ($(id -un): $need): $why")" >&5
			why="as the block's first command"
			continue
		fi
		known=0
		kb_of "$loc" && known=1 kb_used[$loc]=1
		if [ -n "$safe" ]; then
			echo "__gs_instead $(q "${SAFE_FORMS[safe + 1]}") $(q "${SAFE_FORMS[safe + 2]}")" >&5
			cmd=${SAFE_FORMS[safe + 1]}
		fi
		[ $known = 1 ] || echo "set -e" >&5
		printf '{ %s\n} > "$__gs_out" 2>&1 < /dev/null\n__gs_rc=$?; set +e\n' "$cmd" >&5
		for k in ${expects[@]+"${expects[@]}"}; do echo "__gs_expect $(q "$k")" >&5; done
		echo "__gs_done $known" >&5
	done
}

# run_session FILE NAME PRIVATE: FILE's blocks in a bash session of their
# own, in a private mount namespace when PRIVATE is 1; its status
run_session() {
	local file=$1 name=$2 private=$3 s rc=0 p
	s=$(mktemp -d "$work/session.XXXX")
	mkdir "$s/cwd"
	mkdir -m 1777 "$s/sim" # the simulated GPU, every user's as a real one is
	echo "# a stand-in: the docs' python runs it as $build/tests/cuda-app train" > "$s/cwd/train.py"
	chmod -R a+rX "$s"
	gen "$file" "$s/session.sh" "$name" || rc=1
	(
		cd "$s/cwd" || exit 1
		export GS_SESSION=$s GS_NAME=$name GS_REPO=$repo GS_BUILD=$build GS_PRIVATE=$private
		export GS_OUTER_NS=$(readlink /proc/self/ns/mnt)
		export GPUSHARE_STATE_DIR=$s/state GPUSHARE_PIPE_DIRECTORY=$s/pipe GPUSHARE_LOG_DIRECTORY=$s/log GPUSHARE_SIM_DIR=$s/sim
		if [ "$private" = 1 ]; then
			exec timeout -k 5 120 unshare -m --propagation private bash "$s/session.sh"
		else
			exec timeout -k 5 120 bash "$s/session.sh"
		fi
	) || rc=$?
	if [ $rc = 124 ] || [ $rc = 137 ]; then
		echo "FAIL $name: the session ran past 120 s, at $(cat "$s/at" 2> /dev/null)"
		# what the killed session left: its daemon and servers, by their pids
		for p in $(cat "$s/pids" "$s/pipe/gpushare-control.pid" 2> /dev/null); do kill -9 "$p" 2> /dev/null; done
	fi
	return $rc
}

made_users=()
cleanup() {
	local u
	for u in ${made_users[@]+"${made_users[@]}"}; do userdel "$u" 2> /dev/null; done
	[ -n "${KEEP:-}" ] && echo "kept $work" || rm -rf "$work"
}
trap cleanup EXIT

# the python stand-in: what `python train.py` does in the docs
mkdir -p "$work/bin"
cat > "$work/bin/python" << EOF
#!/bin/sh
# python, as the docs use it (tests/shell/test-docs.sh): train.py is a
# simulated CUDA program; nothing else runs
if [ "\$*" = train.py ] && [ -f train.py ]; then exec $(q "$build/tests/cuda-app") train; fi
echo "python (the docs' stand-in) runs train.py in the current directory, not: \$*" >&2
exit 2
EOF
chmod 755 "$work/bin/python"

# what this run can do
have_users=0 have_private=0
if [ "$(id -u)" = 0 ]; then
	if command -v useradd > /dev/null && command -v runuser > /dev/null; then
		have_users=1
		for u in alice bob; do
			id -u "$u" > /dev/null 2>&1 && continue
			if useradd --system --no-create-home --shell /usr/sbin/nologin "$u" 2> /dev/null; then
				made_users+=("$u")
			else
				have_users=0
			fi
		done
	fi
	unshare -m --propagation private true 2> /dev/null && have_private=1
fi

# the test's own check first: a failing command is reported with its place
# and stops its file; an output line not printed fails; an unmarked block fails
printf '# a document that must fail\n\n```sh\necho one\nfalse   # line 5\necho never\n```\n' > "$work/self.md"
out=$(run_session "$work/self.md" self.md 0 2>&1)
rc=$?
check "a failing command fails its file, reported with its line and exit status" '[ $rc != 0 ] && echo "$out" | grep -q "^FAIL self.md:5: false .*exit 1" && ! echo "$out" | grep -q "self.md:6"'
printf '```sh\necho printed\n```\n\n```text\nnot printed\n```\n' > "$work/self.md"
out=$(run_session "$work/self.md" self.md 0 2>&1)
rc=$?
check "an output block the block above did not print fails" '[ $rc != 0 ] && echo "$out" | grep -q "^FAIL self.md:5: the block above printed no line \"not printed\""'
printf '```\nls\n```\n' > "$work/self.md"
out=$(run_session "$work/self.md" self.md 0 2>&1)
rc=$?
check "a block that is neither sh nor text fails" '[ $rc != 0 ] && echo "$out" | grep -q "^FAIL self.md:1: a block fenced"'

for f in $files; do
	echo "-- $f"
	case "$f" in
	/*) run_session "$f" "$(basename "$f")" $have_private ;; # named as its doc, for EXPECT
	*) run_session "$repo/$f" "$f" $have_private ;;
	esac
	rc=$?
	check "$f: every block runs as written" '[ $rc = 0 ]'
done

# every entry of every table still matches a command of the docs: a
# rewritten command must not leave its check, or its excuse, behind
if [ -z "${GS_DOCS_FILES:-}" ]; then
	for ((k = 0; k < ${#SAFE_FORMS[@]}; k += 3)); do
		check "SAFE_FORMS entry matches a command: ${SAFE_FORMS[k]}" '[ -n "${safe_used[$k]:-}" ]'
	done
	for ((k = 0; k < ${#NOT_RUN[@]}; k += 2)); do
		check "NOT_RUN entry matches a command: ${NOT_RUN[k]}" '[ -n "${notrun_used[$k]:-}" ]'
	done
	for ((k = 0; k < ${#EXPECT[@]}; k += 3)); do
		check "EXPECT entry matches a command of ${EXPECT[k]}: ${EXPECT[k + 1]}" '[ -n "${expect_used[$k]:-}" ]'
	done
	for e in ${KNOWN_BROKEN[@]+"${KNOWN_BROKEN[@]}"}; do
		check "KNOWN_BROKEN entry names a command: ${e%% *}" '[ -n "${kb_used[${e%% *}]:-}" ]'
	done
fi
finish
