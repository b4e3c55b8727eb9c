#!/usr/bin/env bash
# Runs every Weft test: unit tests, and (as root) the kernel, plugin, server, agent and lab tests,
# which work only inside throwaway network namespaces named wefttest-* / weft-lab-*.
# The line before last says how many were skipped (tests that need root, when not root); the last line is
# "N passed, N failed".
# Usage: ./test.sh [dotnet test filter, e.g. FullyQualifiedName~Netlink]
set -uo pipefail
cd "$(dirname "$0")"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

if [ "$(id -u)" != 0 ]; then
  echo "note: not root; tests that need network namespaces are skipped (run: sudo ./test.sh)" >&2
fi

# What the tests need beyond running Weft (podman, runc, busybox, reference CNI plugins, PostgreSQL).
if ! scripts/deps.sh --test; then echo "0 passed, 1 failed"; exit 1; fi
if ! ./build.sh; then echo "0 passed, 1 failed"; exit 1; fi
if ! out=$(dotnet build Weft.slnx -c Release -v quiet -nologo 2>&1); then
  echo "$out" | grep -E ' error ' | sort -u | head -40
  echo "0 passed, 1 failed"; exit 1
fi

results=$(mktemp -d /tmp/weft-test-results.XXXXXX)
filter=()
[ -n "${1:-}" ] && filter=(--filter "$1")
dotnet test Weft.slnx -c Release --no-build "${filter[@]}" \
  --logger "trx" --logger "console;verbosity=normal" --results-directory "$results" \
  --blame-hang-timeout 15m 2>&1 | grep -vE '^\s*$' | grep -vE '^\s+Passed ' 
rc=${PIPESTATUS[0]}

sum() { cat "$results"/*.trx 2>/dev/null | grep -o "<Counters [^>]*" | grep -o " $1=\"[0-9]*\"" | grep -o '[0-9]*' | awk '{s+=$1} END {print s+0}'; }
passed=$(sum passed); failed=$(( $(sum failed) + $(sum error) + $(sum timeout) + $(sum aborted) )); skipped=$(sum notExecuted)
rm -rf "$results"
if [ "$rc" != 0 ] && [ "$failed" = 0 ]; then failed=1; fi
echo "$skipped skipped"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
