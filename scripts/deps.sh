#!/usr/bin/env bash
# deps.sh: installs the Debian packages gpushare builds and tests with, when
# they are missing. Safe to run again; does nothing when all are present.
set -eu
# python3: test-preload.sh checks that python3 runs unchanged under the preload
# man-db, groff-base, mandoc: test-man.sh renders and lints the manual pages
# slurmctld, slurmd, slurm-client, libslurm-dev, munge: the Slurm plugin and
# test-slurm.sh's one-node cluster
# libyaml-dev: gpushare apply reads its config (mig-parted's YAML) with libyaml
# g++, pkg-config, libgrpc++-dev, libprotobuf-dev, protobuf-compiler,
# protobuf-compiler-grpc: gpushare-device-plugin (gRPC's generated services);
# python3-grpcio, python3-protobuf: test-k8s.sh's fake kubelet
# libmicrohttpd-dev: gpushare-control's Prometheus metrics (GPUSHARE_CONTROL_METRICS);
# prometheus: test-metrics.sh scrapes them with Debian's real Prometheus; curl:
# docs/metrics.md reads them with it
# tmux: test-top.sh runs gpushare top on a terminal and reads its screen
# chromium: test-timeline-browser.sh renders gpushare timeline's figures in a
# real browser (headless; scripts/svg-png.sh), as do bench/seed-workload/run.sh
# and docs/trace.md for their PNGs; fonts-dejavu-core for their text
pkgs="libmicrohttpd-dev prometheus curl g++ pkg-config libgrpc++-dev libprotobuf-dev protobuf-compiler protobuf-compiler-grpc python3-grpcio python3-protobuf slurmctld slurmd slurm-client libslurm-dev munge gcc make libc6-dev libcmocka-dev python3-yaml libyaml-dev clang libclang-rt-14-dev python3 man-db groff-base mandoc tmux chromium fonts-dejavu-core"
missing=""
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "gpushare: installing$missing" >&2
sudo=""
[ "$(id -u)" = 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends $missing > /dev/null
