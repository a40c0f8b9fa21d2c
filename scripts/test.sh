#!/usr/bin/env bash
# The whole suite, in two pytest processes at once (`make test` with no PYTEST_ARGS):
#  - the end-to-end and browser tests (marked e2e): real Daphne, Celery, nginx-rtmp, FFmpeg
#    and Chromium, mostly waiting on the clock of a live broadcast;
#  - the others: CPU in one Python process.
# Each has its own test database and Redis databases (TEST_SLOT), so they cannot meet. On 2
# cores this takes about two minutes less than one after the other. The e2e output comes
# as it runs; the other's is printed when both are done. Fails if either fails.
set -u
cd "$(dirname "$0")/.."
PYTEST=${PYTEST:-.venv/bin/pytest}
others_log=$(mktemp)
trap 'rm -f "$others_log"' EXIT

TEST_SLOT=d "$PYTEST" -m "not e2e" -p no:cacheprovider "$@" >"$others_log" 2>&1 &
others=$!
"$PYTEST" -m e2e "$@"
e2e_status=$?
wait "$others"
others_status=$?

echo
echo "=== the tests that are not end-to-end (run alongside, TEST_SLOT=d) ==="
cat "$others_log"
echo
echo "end-to-end: $( ((e2e_status == 0)) && echo passed || echo "FAILED ($e2e_status)" );" \
  "the others: $( ((others_status == 0)) && echo passed || echo "FAILED ($others_status)" )"
((e2e_status == 0 && others_status == 0))
