# lib.sh: what every process test shares. Source it after setting "build":
#   . "$(dirname "$0")/lib.sh"
# check NAME COND     evaluates COND, prints "ok   NAME" or "FAIL NAME"
# wait_for COND [S]   polls COND every 50 ms for up to S seconds (default 5);
#                     0 when it came true, 1 when it did not
# finish              prints the tally and exits 0 only when nothing failed
# test_users          makes (once) two real non-root users, gs-test1 and
#                     gs-test2, and sets user1/user2 to their names; returns 1
#                     where that cannot be done (not root, no useradd/setpriv)
# as USER CMD...      runs CMD as USER (its uid, gid and groups)
# sanitized           whether $build's libgpushare.so is built with sanitizers
#                     (then it cannot be preloaded)
# need_preload        says skip and exits 0 where the interposer is sanitized
# sim_env             a work dir ($work, 0755) holding the daemon's pipe, log
#                     and state directories and the simulated GPU's (an
#                     A100-40GB), exported; $build/bin on PATH; $ctl
# py                  the users' own python (a shim of root's may be closed to them)
# as_bg USER CMD...   the same in the background: $! is CMD's own pid (setpriv
#                     execs it), not a shell's, so that kill reaches it
# sim_daemon_test     what a test of the daemon with programs of two real users
#                     on the simulated GPU starts with: says skip and exits 0
#                     without the users or where the interposer is sanitized;
#                     sim_env, the sim's and programs' tmp dirs (1777), $app
#                     (tests/cuda-app), pids (killed at exit with the daemon,
#                     $work removed unless KEEP is set), q CMD (to the daemon)
fails=0
check() {
	if eval "$2"; then echo "ok   $1"; else echo "FAIL $1"; fails=$((fails + 1)); fi
}
wait_for() {
	local end=$(( $(date +%s%N) + ${2:-5} * 1000000000 ))
	while :; do
		eval "$1" && return 0
		[ "$(date +%s%N)" -ge "$end" ] && return 1
		sleep 0.05
	done
}
finish() {
	if [ "$fails" = 0 ]; then echo "all passed"; exit 0; fi
	echo "$fails failed"
	exit 1
}
test_users() {
	[ "$(id -u)" = 0 ] && command -v setpriv > /dev/null && command -v useradd > /dev/null || return 1
	local u
	for u in gs-test1 gs-test2; do
		id -u "$u" > /dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin "$u" 2> /dev/null ||
			id -u "$u" > /dev/null 2>&1 || return 1
	done
	user1=gs-test1 user2=gs-test2
}
as() {
	local u=$1
	shift
	setpriv --reuid="$u" --regid="$(id -g "$u")" --init-groups -- "$@"
}
as_bg() {
	local u=$1
	shift
	setpriv --reuid="$u" --regid="$(id -g "$u")" --init-groups -- "$@" &
}
sanitized() {
	nm -D "$build/lib/libgpushare.so" | grep -q __asan_init
}
need_preload() {
	if sanitized; then
		echo "skip: a sanitized interposer cannot be preloaded (test-interposer covers it)"
		exit 0
	fi
}
sim_env() {
	work=$(mktemp -d)
	chmod 755 "$work"
	export GPUSHARE_PIPE_DIRECTORY="$work/pipe" GPUSHARE_LOG_DIRECTORY="$work/log"
	export GPUSHARE_STATE_DIR="$work/state" GPUSHARE_SIM_DIR="$work/sim" GPUSHARE_SIMULATE=a100-sxm4-40gb
	export PATH="$build/bin:$PATH"
	ctl="$build/bin/gpushare-control"
}
py=/usr/bin/python3
[ -x "$py" ] || py=$(command -v python3)
sim_daemon_test() {
	if ! test_users; then
		echo "skip: needs root, setpriv and useradd for two real users"
		exit 0
	fi
	need_preload
	sim_env
	mkdir -m 1777 "$work/sim" "$work/tmp"
	app="$build/tests/cuda-app"
	pids=()
	trap __sim_daemon_cleanup EXIT
	q() { echo "$*" | "$ctl"; }
}
__sim_daemon_cleanup() {
	for p in "${pids[@]}"; do kill -9 "$p" 2> /dev/null; done
	[ -f "$work/pipe/gpushare-control.pid" ] && kill -9 "$(cat "$work/pipe/gpushare-control.pid")" 2> /dev/null
	pkill -9 -f "$app" 2> /dev/null
	[ -n "${KEEP:-}" ] && echo "kept $work" || rm -rf "$work"
}
