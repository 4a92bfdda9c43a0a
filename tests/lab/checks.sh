# shellcheck shell=bash
# tests/lab/checks.sh — the labs' check counter: `check DESC CMD...` runs CMD and prints ok/FAIL,
# `section TITLE` a heading, `checks_summary` the closing "N passed, M failed" line (exit status 1
# when any failed). On a failed run, lab_on_exit_hook prints the tail of every log in LAB_DIR.
PASSED=0
FAILED=0
check() { # DESC CMD...
  local desc=$1
  shift
  if "$@"; then
    PASSED=$((PASSED + 1))
    printf '  ok    %s\n' "$desc"
  else
    FAILED=$((FAILED + 1))
    printf '  FAIL  %s\n' "$desc"
  fi
}
section() { printf '\n== %s\n' "$*"; }
checks_summary() {
  printf '\n%d passed, %d failed\n' "$PASSED" "$FAILED"
  ((FAILED == 0))
}
lab_on_exit_hook() {
  if ((FAILED > 0)) || [[ ${1:-0} != 0 ]]; then
    for f in "$LAB_DIR"/*/*.log; do
      [[ -f $f ]] || continue
      printf -- '--- %s (last 30 lines)\n' "$f"
      tail -30 "$f"
    done
  fi
}
