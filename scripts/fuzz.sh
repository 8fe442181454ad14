#!/usr/bin/env bash
# Runs every Go fuzz target of the module: `scripts/fuzz.sh 60s` (a duration
# per target) or `scripts/fuzz.sh 500x` (a number of inputs per target).
# Targets are found by name (func FuzzXxx in *_test.go); a crash is written
# to the package's testdata/fuzz/ by go test and fails this script.
#
# Go 1.26's fuzz coordinator can end a duration-limited run with a bare
# "context deadline exceeded" and no failing input (golang/go#75804, fixed
# in Go 1.27): make test therefore uses counts, and a run that fails that
# way without writing an input is reported, not failed.
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${1:-60s}
status=0
# inputs counts the files of a corpus folder, 0 when it does not exist.
inputs() { if [ -d "$1" ]; then find "$1" -type f | wc -l; else echo 0; fi; }
while read -r file name; do
  pkg=./$(dirname "$file")
  corpus=$(dirname "$file")/testdata/fuzz/$name
  before=$(inputs "$corpus")
  echo "fuzz $pkg $name ($fuzztime)"
  if ! go test "$pkg" -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" -fuzzminimizetime 1s -parallel 2 >/tmp/symflow-fuzz.log 2>&1; then
    after=$(inputs "$corpus")
    if [ "$after" = "$before" ] && grep -q '^    context deadline exceeded$' /tmp/symflow-fuzz.log; then
      echo "  no failing input: the run ended on the fuzz coordinator's deadline race (golang/go#75804)"
      continue
    fi
    cat /tmp/symflow-fuzz.log
    status=1
  fi
done < <(grep -rEo --include='*_test.go' '^func Fuzz[A-Za-z0-9_]+' --exclude-dir=node_modules . | sed -E 's#^\./##; s#:func # #')
exit $status
