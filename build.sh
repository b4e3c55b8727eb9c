#!/usr/bin/env bash
# Builds every Weft executable into bin/ at the repository root:
#   bin/weft-cni (NativeAOT), bin/weft (NativeAOT), bin/weft-server, bin/weft-agent.
# Usage: ./build.sh [--quiet]
set -euo pipefail
cd "$(dirname "$0")"
root=$(pwd)
quiet=0; [ "${1:-}" = "--quiet" ] && quiet=1
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

step() { [ $quiet = 1 ] || printf '  %-12s %s\n' "$1" "$2"; }

publish() { # project, executable name, extra args...
  local proj=$1 name=$2; shift 2
  local out="$root/bin/lib/$name"
  step "$name" "building ($proj)"
  if ! dotnet publish "src/$proj" -c Release -r linux-x64 -o "$out" -v quiet -nologo "$@" >"$root/bin/.build-$name.log" 2>&1; then
    cat "$root/bin/.build-$name.log" >&2
    echo "build.sh: building $name failed (log above)" >&2
    exit 1
  fi
  ln -sfn "lib/$name/$name" "$root/bin/$name"
}

# What running Weft needs (nftables, iproute2, ...): installed when missing (as root), else named.
scripts/deps.sh || echo "build.sh: the executables build anyway; install the packages above before running them" >&2

mkdir -p bin/lib
publish Weft.Server weft-server --self-contained false
publish Weft.Agent weft-agent --self-contained false
publish Weft.Cni.Plugin weft-cni
publish Weft.Cli weft
[ $quiet = 1 ] || echo "built: $(cd bin && ls -1 weft* | tr '\n' ' ')"
