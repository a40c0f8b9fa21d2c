#!/usr/bin/env bash
# The whole suite in two lanes at once (`make test` with no PYTEST_ARGS), on 2 cores about
# two thirds of the time of one pytest:
#  - this lane: the end-to-end and browser tests of the apps but streams (Chromium, the
#    DVR's live minutes), then the API fuzzing (schemathesis against a Daphne, about 5 min),
#    its output as it runs;
#  - the other lane: the tests that are not end-to-end (CPU in one Python process), then the
#    end-to-end tests of streams/ (real nginx-rtmp, Celery and FFmpeg), its output at the end.
# End-to-end tests mostly wait on the clock of a live broadcast, so two lanes fit on two
# cores; three (tried) made timing-sensitive browser tests fail. Each pytest has its own
# test database and Redis databases (TEST_SLOT), so they cannot meet. Fails if any fails.
set -u
cd "$(dirname "$0")/.."
PYTEST=${PYTEST:-.venv/bin/pytest}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

(
  TEST_SLOT=d "$PYTEST" -m "not e2e" -p no:cacheprovider "$@" >"$work/others.log" 2>&1
  echo $? >"$work/others.status"
  TEST_SLOT=b "$PYTEST" -m e2e -p no:cacheprovider streams "$@" >"$work/streams.log" 2>&1
  echo $? >"$work/streams.status"
) &
lane=$!
"$PYTEST" -m "e2e and not fuzz" accounts analytics chat dvr socialflow "$@"
apps_status=$?
echo
echo "=== the API fuzzing (this lane, after those) ==="
"$PYTEST" -m fuzz -p no:cacheprovider socialflow "$@"
fuzz_status=$?
wait "$lane"
others_status=$(cat "$work/others.status" 2>/dev/null || echo 1)
streams_status=$(cat "$work/streams.status" 2>/dev/null || echo 1)

echo
echo "=== the tests that are not end-to-end (the other lane, TEST_SLOT=d) ==="
cat "$work/others.log"
echo
echo "=== the end-to-end tests of streams/ (the other lane, after those, TEST_SLOT=b) ==="
cat "$work/streams.log"
echo
word() { (($1 == 0)) && echo passed || echo "FAILED ($1)"; }
echo "end-to-end, other apps: $(word "$apps_status"); not end-to-end: $(word "$others_status");" \
  "API fuzzing: $(word "$fuzz_status"); end-to-end, streams: $(word "$streams_status")"
((apps_status == 0 && others_status == 0 && fuzz_status == 0 && streams_status == 0))
