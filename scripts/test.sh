#!/usr/bin/env bash
# The whole suite, in three pytest processes at once (`make test` with no PYTEST_ARGS):
#  - the end-to-end tests of streams/ (marked e2e: real Daphne, Celery, nginx-rtmp, FFmpeg);
#  - the end-to-end and browser tests of the other apps (Chromium, the DVR's live minutes);
#  - all the others: CPU in one Python process.
# End-to-end tests spend most of their time waiting on the clock of a live broadcast, so on
# 2 cores this takes about half as long as one process. Each process has its own test
# database and Redis databases (TEST_SLOT), so they cannot meet. The first group's output
# comes as it runs; the others' when all are done. Fails if any fails.
set -u
cd "$(dirname "$0")/.."
PYTEST=${PYTEST:-.venv/bin/pytest}
apps_log=$(mktemp)
others_log=$(mktemp)
trap 'rm -f "$apps_log" "$others_log"' EXIT

TEST_SLOT=d "$PYTEST" -m "not e2e" -p no:cacheprovider "$@" >"$others_log" 2>&1 &
others=$!
TEST_SLOT=b "$PYTEST" -m e2e -p no:cacheprovider accounts analytics chat dvr socialflow "$@" >"$apps_log" 2>&1 &
apps=$!
"$PYTEST" -m e2e streams "$@"
streams_status=$?
wait "$apps"
apps_status=$?
wait "$others"
others_status=$?

echo
echo "=== the end-to-end tests of the other apps (run alongside, TEST_SLOT=b) ==="
cat "$apps_log"
echo
echo "=== the tests that are not end-to-end (run alongside, TEST_SLOT=d) ==="
cat "$others_log"
echo
word() { (($1 == 0)) && echo passed || echo "FAILED ($1)"; }
echo "end-to-end, streams: $(word $streams_status); end-to-end, other apps: $(word $apps_status);" \
  "the others: $(word $others_status)"
((streams_status == 0 && apps_status == 0 && others_status == 0))
