#!/usr/bin/env bash
# Runs every test of the solution. Installs the tools the tests need (the embedded cluster's sandbox and images, the
# test servers) when it can.
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

# What the tests need beyond the SDK, installed from Debian when missing (as root, with apt-get): bubblewrap (the
# embedded cluster's sandbox; without it, unshare), skopeo and umoci (images are pulled and unpacked), docker-registry,
# apache2-utils' htpasswd and busybox-static (the image tests' loopback registry and test images), git-lfs (the Git LFS
# test), node and npm (the tests' npm tools below), clang and zlib1g-dev (NativeAOT builds the pods' scheduler-helper).
missing=()
command -v bwrap >/dev/null 2>&1 || missing+=(bubblewrap)
command -v skopeo >/dev/null 2>&1 || missing+=(skopeo)
command -v umoci >/dev/null 2>&1 || missing+=(umoci)
command -v docker-registry >/dev/null 2>&1 || missing+=(docker-registry)
command -v htpasswd >/dev/null 2>&1 || missing+=(apache2-utils)
[ -x /bin/busybox ] || missing+=(busybox-static)
git lfs version >/dev/null 2>&1 || missing+=(git-lfs)
command -v npm >/dev/null 2>&1 || missing+=(nodejs npm)
command -v clang >/dev/null 2>&1 || missing+=(clang)
[ -f /usr/include/zlib.h ] || missing+=(zlib1g-dev)
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing ${missing[*]}"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}") >/dev/null 2>&1 \
      || echo "could not install ${missing[*]}; the tests that need them will fail saying so"
  else
    echo "missing ${missing[*]} (not root or no apt-get); the tests that need them will fail saying so"
  fi
fi

# The tests' npm tools: an S3 server (the cache tests) and the Kubernetes JSON schemas (render-pod's output checked).
if command -v npm >/dev/null 2>&1; then
  for tool in s3 k8s-schema; do
    npm ci --prefix "tests/tools/$tool" --no-audit --no-fund >/dev/null 2>&1 \
      || echo "could not install tests/tools/$tool; the tests that use it will fail"
  done
fi

# The pods' native helper (src/PodHelper): the embedded cluster's pods run it from artifacts/pod-helper, and
# NativeHelperTests compare it with the managed one (in CI they fail when it is missing).
# A failed build leaves no older helper behind (one without the commands of this build's).
dotnet publish src/PodHelper/PodHelper.csproj -c Release -o artifacts/pod-helper 2>&1 | tail -n 1 \
  || { rm -rf artifacts/pod-helper; echo "could not build the native helper (needs clang); pods run the managed scheduler helper"; }

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
