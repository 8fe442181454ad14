#!/usr/bin/env bash
# Runs every Go fuzz target of the module for a while: `scripts/fuzz.sh 60s`.
# Targets are found by name (func FuzzXxx in *_test.go); a crash is written
# to the package's testdata/fuzz/ by go test and fails this script.
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${1:-60s}
status=0
while read -r file name; do
  pkg=./$(dirname "$file")
  echo "fuzz $pkg $name ($fuzztime)"
  if ! go test "$pkg" -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" -fuzzminimizetime 1s -parallel 2 >/tmp/symflow-fuzz.log 2>&1; then
    cat /tmp/symflow-fuzz.log
    status=1
  fi
done < <(grep -rEo --include='*_test.go' '^func Fuzz[A-Za-z0-9_]+' --exclude-dir=node_modules . | sed -E 's#^\./##; s#:func # #')
exit $status
