#!/usr/bin/env bash
# test-man.sh BUILD: the manual pages (docs/man/, built into BUILD/share/man
# by `make man`) render at 80 columns without a warning from groff or
# `mandoc -T lint`, name themselves, document every user command of
# gpushare-control's table (src/control/commands.c) and every variable the
# programs and the interposer read, and `make install` puts them where man
# finds them.
set -u
build=$(cd "$1" && pwd)
root=$(cd "$(dirname "$0")/../.." && pwd)
. "$root/tests/shell/lib.sh"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export MANWIDTH=80 LC_ALL=C.UTF-8
unset MANPATH MANOPT MANPAGER PAGER MAN_KEEP_FORMATTING

pages="gpushare.1 gpushare-smi.1 gpushare-control.1 gpushare-device-plugin.1 gpushare-timeline.1 libgpushare.7"
make -s -C "$root" BUILD="$build" man > "$work/make.log" 2>&1
rc=$?
check "make man builds the pages" '[ $rc = 0 ]'
man_dir="$build/share/man"

# the page's section SECTION of its rendered text (from its heading to the next)
section() { sed -n "/^$2\$/,/^[A-Z][A-Z ]*\$/p" "$work/$1.txt" | sed '1d;$d'; }

for page in $pages; do
	name=${page%.*} sec=${page##*.}
	gz="$man_dir/man$sec/$page.gz"
	check "$page is built, gzipped" '[ -s "$gz" ] && gzip -t "$gz"'
	# gzip -n: no file name (flag 0x08) and no time stamp, so the build is reproducible
	check "$page.gz holds no name and no time stamp" \
		'[ "$(od -An -tu1 -j3 -N1 "$gz" | tr -d " ")" = 0 ] && [ "$(od -An -tu4 -j4 -N4 "$gz" | tr -d " ")" = 0 ]'
	man -l "$gz" > "$work/$page.txt" 2> "$work/$page.err"
	rc=$?
	check "$page renders with man -l (exit 0, nothing on stderr)" '[ $rc = 0 ] && [ -s "$work/$page.txt" ] && [ ! -s "$work/$page.err" ]'
	warnings=$(man --warnings=all -l "$gz" 2>&1 > /dev/null)
	check "$page: no warning from groff" '[ -z "$warnings" ]'
	[ -n "$warnings" ] && echo "$warnings" | head -5
	if command -v mandoc > /dev/null; then
		# a page it cannot find (nvidia-smi(1) where no driver is installed,
		# ours before they are installed) is not the page's fault
		lint=$(mandoc -T lint -W style "$gz" 2>&1 | grep -v -e 'referenced manual not found' -e 'mandoc\.db')
		check "$page: mandoc -T lint is clean" '[ -z "$lint" ]'
		[ -n "$lint" ] && echo "$lint" | head -5
	else
		echo "skip $page: mandoc -T lint (no mandoc; scripts/deps.sh installs it)"
	fi
	check "$page fits 80 columns" '[ "$(wc -L < "$work/$page.txt")" -le 80 ]'
	upper=$(echo "$name" | tr a-z A-Z)
	# (a long name meets the title: GPUSHARE-DEVICE-PLUGIN(1) ... ManualGPUSHARE-DEVICE-PLUGIN(1))
	check "$page: heading $upper($sec)" 'head -1 "$work/$page.txt" | grep -q "^$upper($sec) .*$upper($sec)\$"'
	check "$page: NAME line \"$name — ...\"" 'section "$page" NAME | head -1 | grep -qE "^ +$name (—|-|--) [^ ]"'
	if command -v lexgrog > /dev/null; then
		check "$page: whatis reads its NAME line" 'lexgrog "$gz" 2>/dev/null | grep -q ": \"$name - [^ ]"'
	fi
	for s in SYNOPSIS DESCRIPTION ENVIRONMENT FILES "EXIT STATUS" EXAMPLES "SEE ALSO"; do
		check "$page: section $s" '[ -n "$(section "$page" "$s")" ]'
	done
	see=$(section "$page" "SEE ALSO" | tr -s ' \n' ' ')
	for ref in nvidia-smi.1 nvidia-cuda-mps-control.1 $pages; do
		[ "$ref" = "$page" ] && continue
		r="${ref%.*}(${ref##*.})"
		check "$page: SEE ALSO $r" 'echo "$see" | grep -qF "$r"'
	done
done

# every user command of gpushare-control's table is an entry of its page;
# register_client and server_ready are the protocol's, not the user's
table=$(sed -n '/^const struct control_cmd control_cmds\[\] = {/,/^};/p' "$root/src/control/commands.c")
cmds=$(echo "$table" | grep -oE '^[[:space:]]*\{ "[a-z_]+"' | grep -oE '[a-z_]+' | grep -vx -e register_client -e server_ready)
check "the command table of commands.c is read ($(echo $cmds | wc -w) user commands)" '[ "$(echo $cmds | wc -w)" -ge 30 ]'
missing=""
for c in $cmds; do
	grep -qE "^ {5}$c( |\$)" "$work/gpushare-control.1.txt" || missing="$missing $c"
done
check "gpushare-control.1 has an entry for every user command${missing:+ (missing:$missing)}" '[ -z "$missing" ]'
check "gpushare-control.1 leaves the protocol's register_client and server_ready out" \
	'! grep -qE "register_client|server_ready" "$work/gpushare-control.1.txt"'
# and every option those commands take
flags=$(echo "$table" | grep -v -e '"register_client"' -e '"server_ready"' | grep -oE '[[ "]-{1,2}[a-z][a-z0-9-]*' | cut -c2- | sort -u)
missing=""
for f in $flags; do
	grep -qw -e "$f" "$work/gpushare-control.1.txt" || missing="$missing $f"
done
check "gpushare-control.1 names every option of the table's commands${missing:+ (missing:$missing)}" '[ -z "$missing" ]'

# every variable a program's own sources read is in its page's ENVIRONMENT
vars_of() { cat "$@" | grep -ohE '"(GPUSHARE|CUDA)_[A-Z0-9_]+"' | tr -d '"' | sort -u; }
for pair in "libgpushare.7:interposer" "gpushare.1:cli" "gpushare-control.1:control" "gpushare-smi.1:smi"; do
	page=${pair%%:*} dir=${pair#*:}
	vars=$(vars_of "$root"/src/"$dir"/*.c)
	env=$(section "$page" ENVIRONMENT)
	missing=""
	for v in $vars; do
		echo "$env" | grep -qw -e "$v" || missing="$missing $v"
	done
	check "$page: ENVIRONMENT names every variable src/$dir/ reads ($(echo $vars | wc -w))${missing:+ (missing:$missing)}" '[ -z "$missing" ]'
done
check "src/interposer/ is read for its GPUSHARE_* and CUDA_* variables" \
	'vars_of "$root"/src/interposer/*.c | grep -qx GPUSHARE_SLICE && vars_of "$root"/src/interposer/*.c | grep -qx CUDA_VISIBLE_DEVICES'

# make install puts them where man looks under the prefix
dest="$work/root"
make -s -C "$root" install BUILD="$build" DESTDIR="$dest" PREFIX=/usr/local > "$work/install.log" 2>&1
rc=$?
check "make install DESTDIR=... PREFIX=/usr/local" '[ $rc = 0 ]'
[ $rc = 0 ] || tail -5 "$work/install.log"
mp="$dest/usr/local/share/man"
for page in $pages; do
	name=${page%.*} sec=${page##*.}
	found=$(man -M "$mp" -w "$sec" "$name" 2> /dev/null)
	check "man -M <DESTDIR>/usr/local/share/man finds $name($sec) as installed" \
		'[ "$found" = "$mp/man$sec/$page.gz" ] && cmp -s "$found" "$man_dir/man$sec/$page.gz"'
	check "$name($sec) is installed with mode 644" '[ "$(stat -c %a "$mp/man$sec/$page.gz" 2> /dev/null)" = 644 ]'
done
check "man -M <DESTDIR>/usr/local/share/man gpushare shows gpushare(1)" \
	'man -M "$mp" gpushare 2> /dev/null | head -1 | grep -q "^GPUSHARE(1)"'
check "man -M <DESTDIR>/usr/local/share/man libgpushare shows libgpushare(7)" \
	'man -M "$mp" libgpushare 2> /dev/null | head -1 | grep -q "^LIBGPUSHARE(7)"'
finish
