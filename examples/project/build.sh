#!/bin/sh
# The example's "build": a small report about the checkout it runs in.
set -eu
echo "report for $CI_PROJECT_PATH at $CI_COMMIT_SHA"
echo "files in examples/project: $(ls examples/project | wc -l)"
echo "built at $(date -u +%Y-%m-%dT%H:%M:%SZ)"
