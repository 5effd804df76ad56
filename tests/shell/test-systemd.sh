#!/usr/bin/env bash
# test-systemd.sh BUILD: the systemd units of contrib/systemd/ and the
# example configuration, as `make install` lays them out (DESTDIR, PREFIX
# /usr/local; nothing is rebuilt: -o runtime, as test-docs.sh installs):
# - the units are in lib/systemd/system/, each its source with @BINDIR@ made
#   /usr/local/bin and nothing else changed, and say what they must (the
#   commands, the directories, the ordering, no PrivateTmp and no setting
#   that would keep the daemon from starting servers as other users);
# - `systemd-analyze verify` finds nothing to say about them, in the
#   installed tree (--root: their programs must be there), and does find
#   something in a unit broken on purpose, so that its silence means
#   something (without systemd-analyze, or where it fails even on a unit
#   with nothing wrong, that check alone says skip, and why);
# - the example configuration and /etc/default/gpushare are in
#   share/doc/gpushare/examples/, nothing is put in /etc, and the
#   configuration is mig-parted's v1 format with gpushare-slices (checked
#   with python3's yaml, and by `gpushare apply --dry-run` where the build
#   has it).
set -u
build=$(cd "$1" && pwd)
cd "$(dirname "$0")/../.."
repo=$(pwd)
. tests/shell/lib.sh
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
root=$work/root
units=$root/usr/local/lib/systemd/system
examples=$root/usr/local/share/doc/gpushare/examples
show() { sed 's/^/     | /' "$@" | tail -n 30; }

make -s -C "$repo" -o runtime install BUILD="$build" DESTDIR="$root" PREFIX=/usr/local > "$work/make.log" 2>&1
rc=$?
check "make install DESTDIR=... PREFIX=/usr/local" '[ $rc = 0 ]' || show "$work/make.log"

# --- the units as installed
sources=$(cd contrib/systemd && ls *.service)
check "the units of contrib/systemd are gpushare-apply and gpushare-control" \
	'[ "$(echo $sources)" = "gpushare-apply.service gpushare-control.service" ]'
for u in $sources; do
	check "$u installed in lib/systemd/system, mode 0644" \
		'[ -f "$units/$u" ] && [ "$(stat -c %a "$units/$u")" = 644 ]'
	check "$u: its source with @BINDIR@ made /usr/local/bin, nothing else changed" \
		'grep -q @BINDIR@ "contrib/systemd/$u" && sed "s|@BINDIR@|/usr/local/bin|g" "contrib/systemd/$u" | cmp -s - "$units/$u"'
	check "$u: no @...@ left" '! grep -q "@[A-Za-z_]*@" "$units/$u"'
done

# val UNIT SECTION KEY: the values KEY is given in SECTION, one a line (what
# an empty assignment resets is dropped, as systemd does)
val() {
	awk -v sec="[$2]" -v key="$3" '
		/^[ \t]*[#;]/ || /^[ \t]*$/ { next }
		/^\[/ { in_sec = ($0 == sec); next }
		in_sec { k = $0; sub(/[ \t]*=.*/, "", k); if (k != key) next
			v = $0; sub(/^[^=]*=[ \t]*/, "", v)
			if (v == "") n = 0; else vals[++n] = v }
		END { for (i = 1; i <= n; i++) print vals[i] }' "$units/$1"
}
# is UNIT SECTION KEY VALUE: KEY's last value is VALUE
is() { [ "$(val "$1" "$2" "$3" | tail -n 1)" = "$4" ]; }
# has UNIT SECTION KEY WORD: one of KEY's values holds WORD (a list's item)
has() { val "$1" "$2" "$3" | tr ' ' '\n' | grep -qxF -- "$4"; }
# yes UNIT SECTION KEY: KEY is set to a true boolean
yes() { val "$1" "$2" "$3" | tail -n 1 | grep -qiE '^(1|yes|true|on)$'; }

c=gpushare-control.service a=gpushare-apply.service
check "$c: runs the daemon in the foreground" 'is $c Service ExecStart "/usr/local/bin/gpushare-control -f" && is $c Service Type exec'
check "$c: stops it with quit through the front end, in a time limit" \
	'val $c Service ExecStop | grep -q "quit.*| *exec /usr/local/bin/gpushare-control" && [ -n "$(val $c Service TimeoutStopSec)" ]'
check "$c: Restart=on-failure" 'is $c Service Restart on-failure'
check "$c: /var/lib/gpushare and /var/log/gpushare, 0755" \
	'is $c Service StateDirectory gpushare && is $c Service StateDirectoryMode 0755 && is $c Service LogsDirectory gpushare && is $c Service LogsDirectoryMode 0755'
check "$c: the machine's own /tmp (programs look for the daemon in /tmp/gpushare)" \
	'! yes $c Service PrivateTmp && [ -z "$(val $c Service RuntimeDirectory)" ] && ! val $c Service Environment | grep -q GPUSHARE_PIPE_DIRECTORY'
check "$c: as root, able to start servers as other users" \
	'[ -z "$(val $c Service User)$(val $c Service DynamicUser)$(val $c Service CapabilityBoundingSet)" ] && ! yes $c Service NoNewPrivileges'
check "$c: the NVIDIA devices, /sys and the cgroups left open" \
	'! yes $c Service PrivateDevices && [ -z "$(val $c Service DeviceAllow)$(val $c Service DevicePolicy)" ] && ! yes $c Service ProtectClock && ! yes $c Service ProtectControlGroups && ! yes $c Service ProtectKernelTunables && ! yes $c Service PrivateNetwork && ! yes $c Service PrivateIPC'
check "$c: after gpushare-apply, which it wants" 'has $c Unit Wants $a && has $c Unit After $a'
check "$c: after nvidia-persistenced, wanted, not required" \
	'has $c Unit Wants nvidia-persistenced.service && has $c Unit After nvidia-persistenced.service && ! has $c Unit Requires nvidia-persistenced.service && ! has $c Unit BindsTo nvidia-persistenced.service'
check "$c: started before users log in" 'has $c Unit Before systemd-user-sessions.service'
check "$c: enabled by multi-user.target" 'has $c Install WantedBy multi-user.target'
check "$a: a oneshot that remains after it ran" 'is $a Service Type oneshot && yes $a Service RemainAfterExit'
check "$a: gpushare apply of GPUSHARE_CONFIG of /etc/gpushare/config.yaml" \
	'is $a Service ExecStart "/usr/local/bin/gpushare apply -f /etc/gpushare/config.yaml -c \${GPUSHARE_CONFIG}"'
check "$a: GPUSHARE_CONFIG=default, then /etc/default/gpushare (optional)" \
	'is $a Service Environment GPUSHARE_CONFIG=default && is $a Service EnvironmentFile -/etc/default/gpushare && [ "$(grep -nE "^(Environment=GPUSHARE_CONFIG|EnvironmentFile)=" "$units/$a" | cut -d= -f1 | tr -d "0-9:" | tr "\n" " ")" = "Environment EnvironmentFile " ]'
check "$a: only where /etc/gpushare/config.yaml is" 'is $a Unit ConditionPathExists /etc/gpushare/config.yaml'
check "$a: before gpushare-control" 'has $a Unit Before $c && ! yes $a Service PrivateTmp'
# every man page the units name is installed
for u in $sources; do
	pages=$(val $u Unit Documentation | tr ' ' '\n' | sed -nE 's/^man:([^()]+)\(([0-9])\)$/\2 \1/p')
	check "$u: its Documentation= man pages are installed" \
		'[ -n "$pages" ] && echo "$pages" | while read -r s p; do [ -f "$root/usr/local/share/man/man$s/$p.$s.gz" ] || exit 1; done'
done

# --- systemd-analyze verify, in the installed tree: its programs are there,
# so is what systemd itself provides (the host's units, sysinit.target and
# the like; /bin/sh of ExecStop)
verify() { systemd-analyze verify --man=no --recursive-errors=no --root="$root" "$@" > "$work/verify.out" 2>&1 && ! [ -s "$work/verify.out" ]; }
why=""
if ! command -v systemd-analyze > /dev/null; then
	why="no systemd-analyze here (Debian: apt-get install systemd)"
else
	hostunits=""
	for d in /usr/lib/systemd/system /lib/systemd/system; do [ -f "$d/sysinit.target" ] && hostunits=$d && break; done
	if [ -z "$hostunits" ]; then
		why="the host has no systemd units (no sysinit.target) for --root to take"
	else
		mkdir -p "$root/usr/lib/systemd" "$root/bin"
		cp -a "$hostunits" "$root/usr/lib/systemd/system"
		cp -L /bin/sh "$root/bin/sh"
		# first a unit with nothing wrong: where even that fails, verify
		# cannot run here, and says why
		printf '[Unit]\nDescription=probe\n[Service]\nExecStart=/bin/sh -c true\n' > "$units/gs-probe.service"
		verify "$units/gs-probe.service" || why="systemd-analyze verify fails on a unit with nothing wrong here: $(head -c 300 "$work/verify.out")"
		rm -f "$units/gs-probe.service"
	fi
fi
if [ -n "$why" ]; then
	echo "skip systemd-analyze verify: $why"
else
	verify "$units/$c" "$units/$a"
	rc=$?
	check "systemd-analyze verify has nothing to say about the installed units" '[ $rc = 0 ]' || show "$work/verify.out"
	# ... and would: a unit with a key systemd does not know, and one whose
	# program is not installed
	sed 's/^Restart=/Restrat=/' "$units/$c" > "$units/gs-broken.service"
	verify "$units/gs-broken.service"
	rc=$?
	check "systemd-analyze verify reports a unit with an unknown key" '[ $rc != 0 ] && grep -q Restrat "$work/verify.out"'
	sed 's|/usr/local/bin/gpushare-control -f|/usr/local/bin/gpushare-nothere -f|' "$units/$c" > "$units/gs-broken.service"
	verify "$units/gs-broken.service"
	rc=$?
	check "systemd-analyze verify reports a unit whose program is not installed" '[ $rc != 0 ] && grep -q gpushare-nothere "$work/verify.out"'
	rm -f "$units/gs-broken.service"
	rm -rf "$root/usr/lib/systemd/system" "$root/bin"
fi

# --- the example configuration and /etc/default/gpushare
check "gpushare.yaml installed in share/doc/gpushare/examples, as in contrib/" \
	'cmp -s contrib/gpushare.yaml "$examples/gpushare.yaml" && [ "$(stat -c %a "$examples/gpushare.yaml")" = 644 ]'
check "default-gpushare installed beside it, as in contrib/" \
	'cmp -s contrib/default-gpushare "$examples/default-gpushare" && [ "$(stat -c %a "$examples/default-gpushare")" = 644 ]'
check "make install puts nothing in /etc" '[ ! -e "$root/etc" ]'
check "default-gpushare: GPUSHARE_CONFIG=default, every other line a comment or VAR=value" \
	'grep -qx GPUSHARE_CONFIG=default contrib/default-gpushare && ! grep -vE "^(#.*|[A-Z_][A-Z0-9_]*=.*|)$" contrib/default-gpushare | grep -q .'
if ! "$py" -c 'import yaml' 2> /dev/null; then
	echo "skip the example configuration's format: no python3 yaml (Debian: python3-yaml)"
else
	cat > "$work/migconf.py" << 'EOF'
# migconf.py FILE: FILE is mig-parted's v1 format with gpushare-slices (as
# src/cli/migconfig.h has it): what is wrong, one a line, nothing when all is
# right; then "configs: NAME..."
import re, sys, yaml
bad = []
doc = yaml.safe_load(open(sys.argv[1]))
if not isinstance(doc, dict) or set(doc) != {"version", "mig-configs"} or doc["version"] != "v1":
    sys.exit("not {version: v1, mig-configs: ...}")
SPEC = {"device-filter", "devices", "mig-enabled", "mig-devices", "gpushare-slices"}
SLICE = {"size", "name", "users", "refuse", "overcommit", "guarantee", "default-for", "cgroup", "sharing", "lend", "borrow", "priority", "floor", "weight", "timeslice", "oom-wait", "borrow-memory"}
for label, specs in doc["mig-configs"].items():
    if not isinstance(specs, list) or not specs:
        bad.append(f"{label}: not a list of device specs"); continue
    for i, s in enumerate(specs):
        at = f"{label}[{i}]"
        if not isinstance(s, dict): bad.append(f"{at}: not a map"); continue
        if set(s) - SPEC: bad.append(f"{at}: unknown keys {sorted(set(s) - SPEC)}")
        d = s.get("devices")
        if not (d == "all" or (isinstance(d, list) and d and all(isinstance(x, int) and 0 <= x < 64 for x in d))):
            bad.append(f"{at}: devices {d!r}")
        f = s.get("device-filter")
        for x in ([] if f is None else f if isinstance(f, list) else [f]):
            if not (isinstance(x, str) and re.fullmatch(r"0x[0-9A-Fa-f]{4}10DE", x)): bad.append(f"{at}: device-filter {x!r}")
        on = s.get("mig-enabled")
        if not isinstance(on, bool): bad.append(f"{at}: mig-enabled {on!r}"); continue
        m = s.get("mig-devices")
        if on and not isinstance(m, dict): bad.append(f"{at}: mig-enabled true without mig-devices")
        if not on and m not in (None, {}): bad.append(f"{at}: mig-devices with mig-enabled false")
        for k, v in (m or {}).items():
            if not (re.fullmatch(r"([0-9]+c\.)?[0-9]+g\.[0-9]+gb(\+[a-z.]+|-me)?", str(k)) and isinstance(v, int) and v >= 0):
                bad.append(f"{at}: mig-devices {k!r}: {v!r}")
        sl = s.get("gpushare-slices")
        if sl is not None and not on: bad.append(f"{at}: gpushare-slices with mig-enabled false")
        for j, x in enumerate(sl or []):
            a = f"{at}.gpushare-slices[{j}]"
            if not isinstance(x, dict): bad.append(f"{a}: not a map"); continue
            if set(x) - SLICE: bad.append(f"{a}: unknown keys {sorted(set(x) - SLICE)}")
            if not re.fullmatch(r"[0-9]+sm\.[0-9]+[gm]b|([0-9]+c\.)?[0-9]+g\.[0-9]+gb(\+[a-z.]+|-me)?", str(x.get("size"))):
                bad.append(f"{a}: size {x.get('size')!r}")
            if "sharing" in x and x["sharing"] not in ("shared", "isolated", "best-effort"): bad.append(f"{a}: sharing {x['sharing']!r}")
            if "priority" in x and x["priority"] not in ("critical", "normal"): bad.append(f"{a}: priority {x['priority']!r}")
            if "floor" in x and (x.get("sharing") != "best-effort" or not isinstance(x["floor"], int) or isinstance(x["floor"], bool)):
                bad.append(f"{a}: floor {x['floor']!r} (a number, only with sharing: best-effort)")
            if "weight" in x and (not isinstance(x["weight"], int) or isinstance(x["weight"], bool) or not 1 <= x["weight"] <= 100):
                bad.append(f"{a}: weight {x['weight']!r} (1 to 100)")
            # a bare off is False to PyYAML (YAML 1.1), the string off to gpushare
            if "timeslice" in x and x["timeslice"] not in ("off", False) and (not isinstance(x["timeslice"], int) or isinstance(x["timeslice"], bool) or not 1 <= x["timeslice"] <= 1000):
                bad.append(f"{a}: timeslice {x['timeslice']!r} (1 to 1000 ms, or off)")
            if "oom-wait" in x and (not isinstance(x["oom-wait"], int) or isinstance(x["oom-wait"], bool) or not 0 <= x["oom-wait"] <= 86400):
                bad.append(f"{a}: oom-wait {x['oom-wait']!r} (0 to 86400 seconds)")
            if x.get("borrow-memory") is True and (x.get("overcommit") is not True or x.get("priority") == "critical"):
                bad.append(f"{a}: borrow-memory (only with overcommit: true, not with priority: critical)")
            for k in ("refuse", "overcommit", "lend", "borrow", "borrow-memory"):
                if k in x and not isinstance(x[k], bool): bad.append(f"{a}: {k} {x[k]!r}")
            for k in ("users", "default-for"):
                if k in x and not (x[k] == "*" or (isinstance(x[k], list) and all(isinstance(u, (str, int)) for u in x[k]))):
                    bad.append(f"{a}: {k} {x[k]!r}")
            if "guarantee" in x and (x.get("overcommit") is not True or not re.fullmatch(r"[0-9]+[GM]", str(x["guarantee"]))):
                bad.append(f"{a}: guarantee {x['guarantee']!r} (a size, only with overcommit: true)")
            if "cgroup" in x and not re.fullmatch(r"(/[A-Za-z0-9_@:.-]+)+", str(x["cgroup"])):
                bad.append(f"{a}: cgroup {x['cgroup']!r}")
            if "name" in x and not re.fullmatch(r"[A-Za-z0-9._-]{1,31}", str(x["name"])): bad.append(f"{a}: name {x['name']!r}")
for b in bad: print(b)
print("configs:", *doc["mig-configs"])
EOF
	out=$("$py" "$work/migconf.py" "$examples/gpushare.yaml" 2>&1)
	check "gpushare.yaml: mig-parted's v1 format, gpushare-slices as gpushare apply takes them" \
		'echo "$out" | tail -n 1 | grep -q "^configs:" && [ "$(echo "$out" | wc -l)" = 1 ]' || echo "$out" | sed 's/^/     | /'
	conf=$(grep -E '^GPUSHARE_CONFIG=' contrib/default-gpushare | tail -n 1 | cut -d= -f2)
	check "gpushare.yaml: a default config (devices: all, mig-enabled: false), GPUSHARE_CONFIG=$conf of default-gpushare among its configs" \
		'[ "$conf" = default ] && echo "$out" | tail -n 1 | tr " " "\n" | grep -qx "$conf" && "$py" -c "import yaml, sys; d = yaml.safe_load(open(sys.argv[1]))[\"mig-configs\"][\"default\"]; sys.exit(d != [{\"devices\": \"all\", \"mig-enabled\": False}])" "$examples/gpushare.yaml" 2> /dev/null'
	check "gpushare.yaml: an NVIDIA-profile config and one with every gpushare-slices key" \
		'"$py" -c "
import yaml, sys
c = yaml.safe_load(open(sys.argv[1]))[\"mig-configs\"]
keys = {k for specs in c.values() for s in specs for x in s.get(\"gpushare-slices\", []) for k in x}
sys.exit(not (\"all-1g.10gb\" in c and keys == {\"size\", \"name\", \"users\", \"refuse\", \"overcommit\", \"guarantee\", \"default-for\", \"cgroup\", \"sharing\", \"lend\", \"borrow\", \"priority\", \"floor\", \"weight\", \"timeslice\", \"oom-wait\", \"borrow-memory\"}))" "$examples/gpushare.yaml" 2> /dev/null'
	# the test's own check: a config with a mistake is caught
	sed 's/mig-enabled: false/mig-enabled: false\n      mig-devices: {"1g.10gb": 1}/; s/guarantee: "8G"/guarantee: "8G"\n          colour: red/' \
		"$examples/gpushare.yaml" > "$work/bad.yaml"
	out=$("$py" "$work/migconf.py" "$work/bad.yaml" 2>&1)
	check "the format check catches mig-devices with mig-enabled: false, and an unknown key" \
		'echo "$out" | grep -q "default\[0\]: mig-devices with mig-enabled false" && echo "$out" | grep -q "unknown keys \[.colour.\]"'
fi
# gpushare apply's own parser (strict: an unknown key is an error; the whole
# file is checked whatever config is chosen), on the simulated GPU
if "$build/bin/gpushare" --help 2>&1 | grep -q "gpushare apply"; then
	out=$(
		sim_env
		trap 'rm -rf "$work"' EXIT
		"$build/bin/gpushare" apply -f "$examples/gpushare.yaml" -c default --dry-run 2>&1
	)
	rc=$?
	check "gpushare apply --dry-run takes the example configuration" '[ $rc = 0 ]' || echo "$out" | sed 's/^/     | /'
else
	echo "skip gpushare apply --dry-run of the example: this build's gpushare has no apply"
fi
finish
