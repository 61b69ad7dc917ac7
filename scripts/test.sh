#!/usr/bin/env bash
# Runs every test of the solution. Installs what the embedded cluster needs (bubblewrap) when it can.
# --fast leaves out tests/Fleet.Tests (nodes, clusters and GitLab as separate processes: minutes) for day-to-day work;
# CI runs everything.
set -euo pipefail
cd "$(dirname "$0")/.."

fast=false
for arg in "$@"; do
  case "$arg" in
    --fast) fast=true ;;
    *) echo "usage: scripts/test.sh [--fast]" >&2; exit 2 ;;
  esac
done

if ! command -v bwrap >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing bubblewrap (the embedded cluster's sandbox)"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap) >/dev/null 2>&1 \
    || echo "could not install bubblewrap; the embedded cluster falls back to unshare"
fi
# Images: skopeo pulls, umoci unpacks; the image tests run docker-registry on loopback (htpasswd from apache2-utils) with
# images built from busybox-static.
if { ! command -v skopeo || ! command -v umoci || ! command -v docker-registry || ! command -v htpasswd || ! [ -x /bin/busybox ]; } >/dev/null 2>&1 \
   && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing skopeo, umoci, docker-registry, busybox-static, apache2-utils (the embedded cluster's images and their tests)"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq skopeo umoci docker-registry busybox-static apache2-utils) >/dev/null 2>&1 \
    || echo "could not install the image tools; the embedded cluster's image tests will fail"
fi

if ! command -v npm >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing node and npm (the tests' S3 server and Kubernetes schemas)"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm) >/dev/null 2>&1 || echo "could not install npm"
fi
# The tests' npm tools: an S3 server (the cache tests) and the Kubernetes JSON schemas (render-pod's output checked).
if command -v npm >/dev/null 2>&1; then
  for tool in s3 k8s-schema; do
    npm ci --prefix "tests/tools/$tool" --no-audit --no-fund >/dev/null 2>&1 \
      || echo "could not install tests/tools/$tool; the tests that use it will fail"
  done
fi

if ! git lfs version >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing git-lfs (the Git LFS end-to-end test)"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq git-lfs) >/dev/null 2>&1 \
    || echo "could not install git-lfs; the Git LFS test will fail saying so"
fi

log=$(mktemp)
status=0
if [ "$fast" = true ]; then
  dotnet build Scheduler.sln -c Release 2>&1 | tail -n 3
  for project in tests/*/*.Tests.csproj; do
    case "$project" in tests/Fleet.Tests/*) continue ;; esac
    dotnet test "$project" -c Release --no-build 2>&1 | tee -a "$log" || status=$?
  done
else
  dotnet test Scheduler.sln -c Release 2>&1 | tee "$log" || status=$?
fi

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
