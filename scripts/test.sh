#!/usr/bin/env bash
# `make test`: lint and ansible-test sanity beside pytest, each must pass.
# Why beside and not before: the integration tests spend much of their time
# waiting (servers, agents, polls), and on CI's two cores lint and sanity
# (about 5 minutes, most of it ansible-test creating its virtualenvs) fit in
# that idle time. They run at the lowest CPU priority (nice 19), so that the
# tests, whose timings matter, keep the CPU whenever they want it.
# Their output is kept in .build/checks.log and printed after pytest's.
# Arguments go to pytest (the Makefile passes none).
set -uo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root" || exit
log=.build/checks.log
mkdir -p .build
set -m  # the checks in a process group of their own, so that an interrupted run stops all of them
nice -n 19 "${MAKE:-make}" --no-print-directory lint sanity > "$log" 2>&1 &
checks=$!
set +m
trap 'kill -- "-$checks" 2>/dev/null' EXIT
.venv/bin/pytest "$@"
tests_rc=$?
wait "$checks"
checks_rc=$?
trap - EXIT
echo "=== lint and sanity (beside pytest, $log) ==="
cat "$log"
if [ "$checks_rc" -ne 0 ]; then
  echo "make test: lint or sanity failed (exit $checks_rc), see above" >&2
fi
if [ "$tests_rc" -ne 0 ]; then
  echo "make test: pytest failed (exit $tests_rc)" >&2
fi
[ "$checks_rc" -eq 0 ] && [ "$tests_rc" -eq 0 ]
