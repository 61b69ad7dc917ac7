#!/usr/bin/env bash
# Start, wall time and CPU of the pods' artifact upload: the native scheduler-helper against the managed `scheduler helper`,
# in the same run, each uploading the same archive (`artifacts-uploader`) to a local stand-in for GitLab (python3's HTTP
# server, answering 201 once it has read the body), beside `curl -F` of the same archive as the baseline (a process that
# starts and sends the same multipart body). Prints medians of N runs per archive size.
# Usage: bench/Jobs.Bench/artifacts-upload.sh [N]   (after dotnet publish src/PodHelper -c Release -o artifacts/pod-helper
#        and dotnet build src/Scheduler -c Release, or SCHEDULER_DLL naming a Release scheduler.dll)
set -euo pipefail
cd "$(dirname "$0")/../.."
runs=${1:-10}
native=artifacts/pod-helper/scheduler-helper
managed=(dotnet "${SCHEDULER_DLL:-src/Scheduler/bin/Release/net10.0/scheduler.dll}" helper)
[ -x "$native" ] || { echo "no $native: dotnet publish src/PodHelper -c Release -o artifacts/pod-helper" >&2; exit 1; }
[ -f "${managed[1]}" ] || { echo "no ${managed[1]}: dotnet build src/Scheduler -c Release" >&2; exit 1; }
for tool in /usr/bin/time curl python3; do
  command -v "$tool" >/dev/null || { echo "needs $tool" >&2; exit 1; }
done
work=$(mktemp -d)
server_pid=""
trap '[ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null; rm -rf "$work"' EXIT

# The stand-in: reads each upload's body whole, then answers 201 (as GitLab does once the archive is stored).
cat >"$work/server.py" <<'PY'
import http.server, sys
class Upload(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        left = int(self.headers.get("Content-Length", "0"))
        while left > 0:
            left -= len(self.rfile.read(min(left, 1 << 20)))
        body = b"{}"
        self.send_response(201)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Upload)
print(server.server_address[1], flush=True)
server.serve_forever()
PY
python3 "$work/server.py" >"$work/port" 2>/dev/null &
server_pid=$!
for _ in $(seq 50); do [ -s "$work/port" ] && break; sleep 0.1; done
url="http://127.0.0.1:$(cat "$work/port")"
printf 'bench-job-token\n' >"$work/token"

# One line per run: wall ms, CPU ms (user + system), peak RSS KiB.
measure() {
  for _ in $(seq "$runs"); do
    local start end
    start=$(date +%s%N)
    /usr/bin/time -o "$work/time" -f '%U %S %M' "$@" >/dev/null 2>"$work/stderr" || { echo "failed: $* $(cat "$work/stderr")" >&2; exit 1; }
    end=$(date +%s%N)
    awk -v wall=$(( (end - start) / 1000000 )) '{ printf "%d %d %d\n", wall, ($1 + $2) * 1000, $3 }' "$work/time"
  done
}

median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

report() {
  local name=$1 data=$2
  printf '  %-34s wall p50 %5s ms, CPU (user+sys) p50 %5s ms, peak RSS p50 %6.1f MiB\n' "$name" \
    "$(cut -d' ' -f1 <<<"$data" | median)" "$(cut -d' ' -f2 <<<"$data" | median)" \
    "$(cut -d' ' -f3 <<<"$data" | median | awk '{ print $1 / 1024 }')"
}

echo "artifacts upload, $runs runs each, $(nproc) cores, load $(cut -d' ' -f1 /proc/loadavg)"
for size in 64K 16M; do
  archive="$work/artifacts-$size.zip"
  head -c "$size" /dev/urandom >"$archive"
  upload=(artifacts-uploader --url "$url" --id 1 --token-file "$work/token" --file "$archive")
  baseline_data=$(measure curl -sf -o /dev/null -H "JOB-TOKEN: bench-job-token" -F "file=@$archive;filename=artifacts.zip;type=application/octet-stream" \
    "$url/api/v4/jobs/1/artifacts?artifact_format=zip&artifact_type=archive")
  native_data=$(measure "$native" "${upload[@]}")
  managed_data=$(measure "${managed[@]}" "${upload[@]}")
  echo "archive $size:"
  report "baseline: curl -F" "$baseline_data"
  report "native scheduler-helper" "$native_data"
  report "managed scheduler helper (dotnet)" "$managed_data"
done
echo "load after $(cut -d' ' -f1 /proc/loadavg)"
