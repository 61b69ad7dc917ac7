#!/usr/bin/env bash
# Builds a test image offline for `localcluster-bench --image-archive`: busybox (Debian's busybox-static) plus a file of
# random bytes, so its compressed size is about SIZE_MB. Writes an OCI archive.
# Usage: bench/LocalCluster.Bench/make-image.sh SIZE_MB OUT.tar
set -euo pipefail
size_mb=${1:?usage: make-image.sh SIZE_MB OUT.tar}
out=${2:?usage: make-image.sh SIZE_MB OUT.tar}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
umoci init --layout "$work/layout"
umoci new --image "$work/layout:bench"
umoci unpack --rootless --image "$work/layout:bench" "$work/bundle" >/dev/null
rootfs="$work/bundle/rootfs"
mkdir -p "$rootfs/bin" "$rootfs/etc" "$rootfs/tmp"
cp /bin/busybox "$rootfs/bin/busybox"
for applet in sh sleep true cat echo; do ln -s busybox "$rootfs/bin/$applet"; done
echo "root:x:0:0:root:/root:/bin/sh" > "$rootfs/etc/passwd"
# Random bytes do not compress: the layer is about as large as the file.
filler=$(( size_mb > 1 ? size_mb - 1 : 0 ))
if [ "$filler" -gt 0 ]; then head -c "$((filler * 1024 * 1024))" /dev/urandom > "$rootfs/filler"; fi
umoci repack --image "$work/layout:bench" "$work/bundle" >/dev/null
umoci config --image "$work/layout:bench" --config.cmd /bin/sh >/dev/null
rm -f "$out"
skopeo copy --quiet "oci:$work/layout:bench" "oci-archive:$out:bench"
ls -l "$out"
