#!/usr/bin/env bash
# Installs the Debian packages Weft needs that this machine lacks (skips what is present).
#   scripts/deps.sh          what building and running Weft and its lab needs
#   scripts/deps.sh --test   plus what the tests need (podman, runc, busybox, the reference CNI plugins, PostgreSQL)
# Needs root for apt-get; without root it prints the command to run instead.
set -uo pipefail
# gcc, libc6-dev, zlib1g-dev: the native toolchain NativeAOT links weft and weft-cni with (weft-cni statically, with libc.a).
pkgs=(iproute2 nftables libnftables1 conntrack tcpdump procps util-linux openssl ca-certificates gcc libc6-dev zlib1g-dev)
[ "${1:-}" = "--test" ] && pkgs+=(socat iperf3 podman runc busybox-static containernetworking-plugins postgresql sqlite3)
missing=()
for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "weft needs these Debian packages: ${missing[*]}" >&2
  echo "install them with: sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
echo "installing Debian packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
log=$(mktemp /tmp/weft-apt.XXXXXX)
if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}"; } >"$log" 2>&1; then
  tail -20 "$log" >&2
  echo "installing ${missing[*]} failed (log: $log)" >&2
  exit 1
fi
rm -f "$log"
