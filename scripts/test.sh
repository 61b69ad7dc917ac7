#!/usr/bin/env bash
# Runs every test of the solution. Installs what the embedded cluster needs (bubblewrap) when it can.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v bwrap >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing bubblewrap (the embedded cluster's sandbox)"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap) >/dev/null 2>&1 \
    || echo "could not install bubblewrap; the embedded cluster falls back to unshare"
fi

log=$(mktemp)
status=0
dotnet test Scheduler.sln -c Release 2>&1 | tee "$log" || status=$?

# One closing line for the whole run: "tests: N passed, N failed, N skipped".
awk '
  /(Passed|Failed)! +- +Failed: / {
    gsub(/,/, " ");
    for (i = 1; i <= NF; i++) {
      if ($i == "Failed:")  failed  += $(i+1);
      if ($i == "Passed:")  passed  += $(i+1);
      if ($i == "Skipped:") skipped += $(i+1);
    }
  }
  END { printf "tests: %d passed, %d failed, %d skipped\n", passed, failed, skipped }
' "$log"
rm -f "$log"
exit "$status"
