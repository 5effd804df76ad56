#!/usr/bin/env bash
# test-preload.sh BUILD: the README's `gpushare preload install` puts the
# installed libgpushare.so in /etc/ld.so.preload: every program then loads it,
# those that never touch CUDA run as before (no output, no files, no threads),
# a CUDA program nobody started through gpushare is confined, a setuid one
# ignores its user's variables; unsafe libraries are refused; remove takes out
# that line alone. Root only. It all happens in a private mount namespace with
# /etc behind an overlay (rename onto a file bind-mounted over ld.so.preload
# would fail with EBUSY): the real /etc/ld.so.preload is never touched.
set -u
build=$(cd "$1" && pwd)
cd "$(dirname "$0")/../.."
. tests/shell/lib.sh
[ "$(id -u)" = 0 ] || { echo "skip: gpushare preload is for root"; exit 0; }
command -v unshare > /dev/null || { echo "skip: no unshare"; exit 0; }
if nm -D "$build/lib/libgpushare.so" | grep -q __asan_init; then
	echo "skip: a sanitized interposer cannot be preloaded (test-interposer covers it)"
	exit 0
fi
outer_ns=$(readlink /proc/self/ns/mnt)
if [ "${GS_TEST_PRELOAD_NS:-}" = "" ]; then
	exec unshare -m --propagation private env GS_TEST_PRELOAD_NS="$outer_ns" "$0" "$build"
fi
# never go on where a mistake would reach the machine's own /etc
[ "$outer_ns" != "$GS_TEST_PRELOAD_NS" ] || { echo "FAIL not in a private mount namespace"; exit 1; }
work=$(mktemp -d)
app_pid=""
cleanup() { [ -n "$app_pid" ] && kill -9 "$app_pid" 2> /dev/null; rm -rf "$work"; }
trap cleanup EXIT
mkdir -p "$work/upper" "$work/ovl"
if ! mount -t overlay overlay -o "lowerdir=/etc,upperdir=$work/upper,workdir=$work/ovl" /etc 2> /dev/null; then
	cp -a /etc "$work/etc" && mount --bind "$work/etc" /etc || { echo "FAIL cannot put a private /etc in place"; exit 1; }
fi
mountpoint -q /etc || { echo "FAIL /etc is not private"; exit 1; }
# a root-owned prefix (everything above /tmp is world-writable, refused) and
# private simulator and daemon directories
for root in /mnt /srv /opt; do [ -d "$root" ] && break; done
mount -t tmpfs -o mode=0755 gs-test-preload "$root" || { echo "FAIL cannot mount a tmpfs on $root"; exit 1; }
mkdir -p "/tmp/gpushare-sim-0" && mount -t tmpfs -o mode=0755 gs-test-sim /tmp/gpushare-sim-0
[ -d /tmp/gpushare ] && mount -t tmpfs -o mode=0755 gs-test-pipe /tmp/gpushare
prefix=$root/gpushare
make -s install BUILD="$build" PREFIX="$prefix" > "$work/make.log" 2>&1 || { cat "$work/make.log"; exit 1; }
lib=$prefix/lib/gpushare/libgpushare.so
app=$prefix/cuda-app
install -m 755 "$build/tests/cuda-app" "$app"
# the simulated driver where the loader finds it for every program, setuid ones too
echo "$prefix/lib/gpushare/sim" > /etc/ld.so.conf.d/zz-gpushare-test-sim.conf
ldconfig -X

# another administrator's lines, which gpushare must keep
libm=$(ldconfig -p | awk '$1 == "libm.so.6" { print $NF; exit }')
printf '# site preload list, not gpushare'"'"'s\n%s\n' "$libm" > /etc/ld.so.preload
cp /etc/ld.so.preload "$work/before"

# the README's command line, as an administrator types it; status and
# remove, which the README names in passing
readme=$(sed -n 's/^\(gpushare preload install\)\( .*\)\{0,1\}$/\1/p' README.md | head -n 1)
check "the README's section for administrators shows gpushare preload install" '[ -n "$readme" ]'
run_readme() {
	if [ "$1" = install ]; then PATH="$prefix/bin:$PATH" eval "${readme:-false}"; else "$prefix/bin/gpushare" preload "$1"; fi
}

# refusals: what everything would load must be root's alone
make -s install BUILD="$build" PREFIX="$root/bad" > /dev/null 2>&1
chmod g+w "$root/bad/lib"
check "a library under a group-writable directory is refused, saying which" '! "$root/bad/bin/gpushare" preload install > "$work/out" 2>&1 && grep -q "refusing.*: $root/bad/lib is writable by its group" "$work/out" && cmp -s /etc/ld.so.preload "$work/before"'
chmod g-w "$root/bad/lib"
chown 65534 "$root/bad/lib/gpushare/libgpushare.so"
check "a library not owned by root is refused" '! "$root/bad/bin/gpushare" preload install > "$work/out" 2>&1 && grep -q "owned by uid 65534" "$work/out" && cmp -s /etc/ld.so.preload "$work/before"'
check "status says it is not in, exit 1" '! run_readme status > "$work/out" && grep -q "^not preloaded" "$work/out"'
if test_users; then
	check "a user other than root may not install" '! as "$user1" "$prefix/bin/gpushare" preload install > "$work/out" 2>&1 && grep -q "only root" "$work/out" && cmp -s /etc/ld.so.preload "$work/before"'
fi

check "install succeeds" 'run_readme install > "$work/out" 2>&1'
check "the line is in /etc/ld.so.preload, once, after the other lines" '[ "$(cat /etc/ld.so.preload)" = "$(cat "$work/before"; echo "$lib")" ]'
check "the file is root's, a regular file, mode 644" '[ "$(stat -c "%U %F %a" /etc/ld.so.preload)" = "root regular file 644" ]'
check "install again changes nothing" 'run_readme install > "$work/out" 2>&1 && grep -q already "$work/out" && [ "$(grep -cxF "$lib" /etc/ld.so.preload)" = 1 ]'
check "status says it is in, exit 0" 'run_readme status > "$work/out" && grep -q "^preloaded: $lib" "$work/out"'

# programs that never call CUDA: loaded, and nothing else
export GPUSHARE_LOG=$work/noncuda.log
check "ls runs, loads libgpushare.so, prints nothing extra" '[ -z "$(ls / 2>&1 > /dev/null)" ] && ls -l /proc/self/map_files/ 2> /dev/null | grep -qF "$lib"'
check "bash -c true runs with no output" '[ -z "$(bash -c true 2>&1)" ] && bash -c "grep -qF $lib /proc/\$\$/maps"'
check "python3 -c 1 runs with no output" '[ -z "$(python3 -c 1 2>&1)" ]'
check "python3 has loaded libgpushare.so and runs one thread" '[ "$(python3 -c "import os; m = open(\"/proc/self/maps\").read(); print(\"$lib\" in m, len(os.listdir(\"/proc/self/task\")))")" = "True 1" ]'
check "none of them started the interposer (its log was never opened)" '[ ! -e "$GPUSHARE_LOG" ]'
unset GPUSHARE_LOG

# a CUDA program nobody started through gpushare
(exec env -i PATH=/usr/bin:/bin "$app" hold 64 > "$work/hold" 2>&1) &
app_pid=$!
wait_for 'grep -q held "$work/hold"' 10
check "a plain CUDA program, no GPUSHARE_ variable, has libgpushare.so loaded" 'grep -qF "$lib" /proc/$app_pid/maps'
kill "$app_pid" 2> /dev/null
wait "$app_pid" 2> /dev/null
app_pid=""
out=$(env -i PATH=/usr/bin:/bin GPUSHARE_PIPE_DIRECTORY="$work/pipe" GPUSHARE_MEMORY_LIMIT=2G GPUSHARE_SMS=16 \
	GPUSHARE_LOG="$work/cuda.log" "$app" info 2>&1)
check "it is confined without LD_PRELOAD or gpushare run" 'echo "$out" | grep -qx "mem_total_mib 2048" && echo "$out" | grep -qx "sms 16"'
check "and a CUDA program does start the interposer (so the check above can fail)" 'grep -q "slice environment" "$work/cuda.log"'

# a setuid program must not take its user's variables
if [ -n "${user1:-}" ]; then
	install -m 4755 "$app" "$root/suid-app"
	out=$(as "$user1" env GPUSHARE_LOG="$work/suid-user.log" GPUSHARE_MEMORY_LIMIT=1G "$root/suid-app" info 2>&1)
	check "a setuid CUDA program ignores its user's GPUSHARE_ variables" '[ ! -e "$work/suid-user.log" ] && echo "$out" | grep -qx "mem_total_mib 40960"'
	out=$(env GPUSHARE_LOG="$work/suid-root.log" GPUSHARE_PIPE_DIRECTORY="$work/pipe" GPUSHARE_MEMORY_LIMIT=1G "$root/suid-app" info 2>&1)
	check "run by its owner, the same program takes them" '[ -e "$work/suid-root.log" ] && echo "$out" | grep -qx "mem_total_mib 1024"'
fi

check "remove succeeds" 'run_readme remove > "$work/out" 2>&1'
check "the line is gone, the other lines are as they were" 'cmp -s /etc/ld.so.preload "$work/before"'
check "status says it is not in" '! run_readme status > /dev/null'
check "programs no longer load it" '! bash -c "grep -qF $lib /proc/\$\$/maps"'
check "remove again changes nothing" 'run_readme remove > "$work/out" 2>&1 && grep -q "was not preloaded" "$work/out" && cmp -s /etc/ld.so.preload "$work/before"'
rm /etc/ld.so.preload
run_readme install > /dev/null && run_readme remove > /dev/null
check "where gpushare made the file, remove takes the file away again" '[ ! -e /etc/ld.so.preload ]'
finish
