# shellcheck shell=bash disable=SC2034
# control-env.sh: sourced by the gpushare-control device scripts. A fresh
# state dir readable by every user (only the daemon writes it), the daemon in private pipe and log
# directories (/tmp/gs-ctl*, cleared first: a warm machine keeps an earlier
# run's; GS_BENCH_TMP names another directory than /tmp, for a run on the
# simulated GPU beside other work), both daemons stopped on exit, and helpers: q (a command to
# gpushare-control), as_nobody (a command as user nobody, same directories).
set -u
export PATH=/usr/local/nvidia/bin:/usr/local/cuda/bin:$PWD/build/bin:$PATH
d=$PWD/build/bench
state=$(mktemp -d); chmod 0755 "$state"; chmod -R o+rX "$PWD" 2>/dev/null
ctl_tmp=${GS_BENCH_TMP:-/tmp}
export GPUSHARE_STATE_DIR=$state GPUSHARE_PIPE_DIRECTORY=$ctl_tmp/gs-ctl GPUSHARE_LOG_DIRECTORY=$ctl_tmp/gs-ctl-log
unset CUDA_MPS_PIPE_DIRECTORY
rm -rf "$ctl_tmp/gs-ctl" "$ctl_tmp/gs-ctl-log"
nv=$ctl_tmp/gs-ctl/nvidia-mps
trap 'echo quit | gpushare-control > /dev/null 2>&1; CUDA_MPS_PIPE_DIRECTORY=$nv nvidia-cuda-mps-control <<< quit > /dev/null 2>&1' EXIT
q() { echo "$*" | gpushare-control; }
as_nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups env HOME=/tmp GPUSHARE_STATE_DIR="$state" GPUSHARE_PIPE_DIRECTORY="$GPUSHARE_PIPE_DIRECTORY" "$@"; }
