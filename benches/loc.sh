#!/usr/bin/env bash
# Lines of code of the guide's counted programs, so the counts it states are
# reproducible:
#
#   benches/loc.sh [docs/guide.md]
#
# A counted program is the ```rust block right after a line of the form
#
#   *Lines of code: N (target ≤ T; `benches/loc.sh` counts them).*
#
# Its lines of code are the lines a reader sees, less blank lines and
# comment lines (`//`, `///`, `//!`): rustdoc's hidden lines (`# ...`, the doc
# test's client and asserts) do not count. A line with code and a trailing
# comment counts. Prints one row per program (the section it is in, the
# count, the target) and fails if a count is over its target or differs from
# the N the guide states.
set -euo pipefail
cd "$(dirname "$0")/.."
guide=${1:-docs/guide.md}

awk '
  /^## / { section = substr($0, 4) }
  match($0, /^\*Lines of code: [0-9]+ \(target ≤ [0-9]+;/) {
    split($0, w, /[ ;]/)
    stated = w[4]; target = w[7]; sub(/\(/, "", stated)
    armed = 1; next
  }
  armed && /^```rust/ { inside = 1; armed = 0; count = 0; next }
  armed && !/^[[:space:]]*$/ { printf "%s: a counted program must follow its count line\n", section > "/dev/stderr"; bad = 1; armed = 0 }
  inside && /^```/ {
    inside = 0; programs++
    status = "ok"
    if (count > target) { status = "OVER TARGET"; bad = 1 }
    if (count != stated) { status = "guide states " stated; bad = 1 }
    printf "%-45s %3d lines (target <= %d) %s\n", section, count, target, status
    next
  }
  inside {
    line = $0
    if (line ~ /^[[:space:]]*#( |$)/) next          # hidden doc-test scaffolding
    if (line ~ /^[[:space:]]*$/) next                # blank
    if (line ~ /^[[:space:]]*\/\//) next             # comment
    count++
  }
  END {
    if (programs == 0) { print "no counted programs found" > "/dev/stderr"; exit 1 }
    exit bad
  }
' "$guide"
