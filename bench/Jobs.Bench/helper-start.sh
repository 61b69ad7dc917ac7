#!/usr/bin/env bash
# Start time and peak RSS of the pods' helper: the native scheduler-helper against the managed `scheduler helper`, in the
# same run, each reading a small log once (`read-log` without --follow: it starts, reads, exits), beside `cat` of the same
# log as the baseline (a process start measured the same way). Prints medians of N runs.
# Usage: bench/Jobs.Bench/helper-start.sh [N]   (after dotnet publish src/PodHelper -c Release -o artifacts/pod-helper
#        and dotnet build src/Scheduler -c Release, or SCHEDULER_DLL naming a Release scheduler.dll)
set -euo pipefail
cd "$(dirname "$0")/../.."
runs=${1:-20}
native=artifacts/pod-helper/scheduler-helper
managed=(dotnet "${SCHEDULER_DLL:-src/Scheduler/bin/Release/net10.0/scheduler.dll}" helper)
[ -x "$native" ] || { echo "no $native: dotnet publish src/PodHelper -c Release -o artifacts/pod-helper" >&2; exit 1; }
[ -f "${managed[1]}" ] || { echo "no ${managed[1]}: dotnet build src/Scheduler -c Release" >&2; exit 1; }
command -v /usr/bin/time >/dev/null || { echo "needs /usr/bin/time (Debian package time)" >&2; exit 1; }
log=$(mktemp)
trap 'rm -f "$log"' EXIT
seq 1 1000 >"$log"

# One line per run: wall milliseconds and peak RSS in KiB.
measure() {
  for _ in $(seq "$runs"); do
    local start end rss
    start=$(date +%s%N)
    rss=$( { /usr/bin/time -f '%M' "$@" >/dev/null; } 2>&1 | tail -n 1)
    end=$(date +%s%N)
    echo "$(( (end - start) / 1000000 )) $rss"
  done
}

median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

report() {
  local name=$1 data=$2
  printf '%-34s start+read+exit p50 %4s ms, peak RSS p50 %6.1f MiB\n' "$name" \
    "$(cut -d' ' -f1 <<<"$data" | median)" "$(cut -d' ' -f2 <<<"$data" | median | awk '{ print $1 / 1024 }')"
}

baseline_data=$(measure cat "$log")
native_data=$(measure "$native" read-log --path "$log")
managed_data=$(measure "${managed[@]}" read-log --path "$log")
echo "helper start, $runs runs each, $(nproc) cores, load $(cut -d' ' -f1 /proc/loadavg)"
report "baseline: cat" "$baseline_data"
report "native scheduler-helper" "$native_data"
report "managed scheduler helper (dotnet)" "$managed_data"
