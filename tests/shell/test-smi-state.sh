#!/usr/bin/env bash
# test-smi-state.sh BUILD: the slice store under concurrency and crashes.
# Concurrent gpushare-smi runs never lose an update; a run killed at any
# instant leaves the state before or after its change, never a torn one.
set -u
build=$(cd "$1" && pwd)
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
export PATH="$build/bin:$PATH" GPUSHARE_STATE_DIR="$work/state" GPUSHARE_SIM_DIR="$work/sim"
export GPUSHARE_SIMULATE=a100-sxm4-40gb
fails=0
check() { if eval "$2"; then echo "ok   $1"; else echo "FAIL $1"; fails=$((fails + 1)); fi; }
gi_count() { gpushare-smi mig -lgi 2>/dev/null | grep -c '^|   0  MIG'; }

gpushare-smi -i 0 -mig 1 > /dev/null
# 1. twenty concurrent creations of a 1g GI: seven fit, none is lost or doubled
for i in $(seq 20); do gpushare-smi mig -cgi 1g.5gb > "$work/out.$i" 2>&1 & done
wait
ok=$(cat "$work"/out.* | grep -c '^Successfully created GPU instance')
full=$(cat "$work"/out.* | grep -c 'Insufficient Resources$' )
ids=$(cat "$work"/out.* | grep '^Successfully' | awk '{print $6}' | sort -n | uniq | tr '\n' ' ')
check "20 concurrent -cgi: 7 succeed" '[ "$ok" = 7 ]'
check "20 concurrent -cgi: 13 refused with Insufficient Resources" '[ "$full" = 26 ]'
check "20 concurrent -cgi: IDs distinct, as NVIDIA numbers them (got $ids)" '[ "$ids" = "7 8 9 11 12 13 14 " ]'
check "20 concurrent -cgi: -lgi lists 7" '[ "$(gi_count)" = 7 ]'
gpushare-smi mig -dgi > /dev/null

# 2. killed just before the new state is renamed in: the old state remains
(GPUSHARE_FAULT=store-kill-before-rename exec gpushare-smi mig -cgi 4g.20gb > /dev/null 2>&1)
check "killed before rename: exit by SIGKILL" '[ $? = 137 ]'
check "killed before rename: no GI was created" '[ "$(gi_count)" = 0 ]'
check "killed before rename: next change works" 'gpushare-smi mig -cgi 3g.20gb > /dev/null'
(GPUSHARE_FAULT=store-kill-after-rename exec gpushare-smi mig -cgi 3g.20gb > /dev/null 2>&1)
check "killed after rename: the new GI is there" '[ "$(gi_count)" = 2 ]'
check "killed after rename: the lock died with it" 'timeout 5 gpushare-smi mig -dgi > /dev/null'

# 3. SIGKILL at random instants during create/destroy: every state parses and is one of the valid ones
before=$fails
for round in $(seq 40); do
	( gpushare-smi mig -cgi 2g.10gb,1g.5gb -C; gpushare-smi mig -dci; gpushare-smi mig -dgi ) > /dev/null 2>&1 &
	pid=$!
	sleep "0.00$((RANDOM % 9))"
	pkill -9 -P "$pid" 2>/dev/null; kill -9 "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
	n=$(gi_count); rc=0
	gpushare-smi mig -lgi > /dev/null 2>&1 || rc=$?
	if [ "$rc" != 0 ] && [ "$rc" != 6 ]; then echo "FAIL round $round: -lgi exit $rc"; fails=$((fails + 1)); break; fi
	if [ "$n" -gt 2 ]; then echo "FAIL round $round: $n GIs"; fails=$((fails + 1)); break; fi
	gpushare-smi mig -dci > /dev/null 2>&1; gpushare-smi mig -dgi > /dev/null 2>&1
	if [ "$(gi_count)" != 0 ]; then echo "FAIL round $round: cleanup left GIs"; fails=$((fails + 1)); break; fi
done
check "40 random SIGKILLs: state always readable and consistent" '[ $fails = $before ]'
check "no stray lock holder: a final change goes through" 'timeout 5 gpushare-smi mig -cgi 7g.40gb > /dev/null'
exit $((fails > 0))
