#!/usr/bin/env bash
# Proves every exercise both ways, in a temporary copy of the tree (the
# working tree as it is, tracked and untracked files, ignored ones left
# out), so the tree itself is never touched:
#   1. its check (exercises/NN-name/check, build tag "exercise") fails on
#      the copy with a failing test, not a build error;
#   2. with its solution.patch applied (git apply, from the repo root) the
#      check passes, and the packages the patch touches stay gofmt- and
#      vet-clean and pass their own tests; the stages' file lists
#      (stages/steps_test.go) still hold;
#   3. the patch is taken back out before the next exercise.
# `make exercise-solutions` runs it; so does .ci/run. Arguments name the
# exercises to prove (1 3), all of them by default.
set -euo pipefail
cd "$(dirname "$0")/.."
export GOTOOLCHAIN="${GOTOOLCHAIN:-go1.26.10}"

# The copy lives at the same path on every run from this tree, so that the
# build cache serves it the packages it compiled last time (a build is
# keyed by its folder); a lock keeps two runs from sharing it.
copy="${TMPDIR:-/tmp}/staircase-exercises-$(pwd -P | cksum | cut -d' ' -f1)"
exec 9>"$copy.lock"
flock -n 9 || { echo "another make exercise-solutions runs on this tree"; exit 1; }
rm -rf "$copy"
mkdir -p "$copy"
trap 'rm -rf "$copy"' EXIT
git ls-files -z --cached --others --exclude-standard |
  while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done |
  tar --null -T - -cf - | tar -xf - -C "$copy"
cd "$copy"

log="$copy/.check.log"
failed=0
fail() { echo "FAIL: $*"; failed=1; }

dirs=(exercises/[0-9][0-9]-*/)
if [ $# -gt 0 ]; then
  dirs=()
  for n in "$@"; do
    d=(exercises/$(printf %02d "$((10#$n))")-*/)
    [ -d "${d[0]}" ] || { echo "no exercise $n"; exit 2; }
    dirs+=("${d[0]}")
  done
fi
for dir in "${dirs[@]}"; do
  dir="${dir%/}"
  echo "== $dir"
  start=$SECONDS
  check="./$dir/check"
  patch="$dir/solution.patch"
  if [ ! -f "$dir/README.md" ] || [ ! -f "$patch" ]; then
    fail "$dir needs a README.md and a solution.patch"; continue
  fi

  if go test -count=1 -tags exercise "$check" >"$log" 2>&1; then
    fail "$dir: the check passes on the untouched tree"; cat "$log"; continue
  fi
  if ! grep -q -- '^--- FAIL' "$log" || grep -q -e '\[build failed\]' -e '\[setup failed\]' "$log"; then
    fail "$dir: the check does not build on the untouched tree (it must fail as a test, saying what is missing)"
    cat "$log"; continue
  fi
  echo "untouched: fails as it should:"
  grep -A3 -m1 -- '^--- FAIL' "$log" | sed 's/^/  | /'

  if ! git apply "$patch"; then
    fail "$dir: solution.patch does not apply to the tree"; continue
  fi
  touched=$(sed -n 's#^+++ b/##p' "$patch")
  pkgs=$(for f in $touched; do [[ $f == *.go ]] && echo "./$(dirname "$f")"; done | sort -u)
  ok=1
  if ! go test -count=1 -tags exercise "$check" >"$log" 2>&1; then
    fail "$dir: the check fails with the solution applied"; cat "$log"; ok=0
  fi
  unformatted=$(gofmt -l $(for f in $touched; do [[ $f == *.go ]] && echo "$f"; done) </dev/null || true)
  if [ -n "$unformatted" ]; then fail "$dir: the solution is not gofmt-clean: $unformatted"; ok=0; fi
  if [ -n "$pkgs" ] && ! go vet -tags exercise $pkgs >"$log" 2>&1; then
    fail "$dir: go vet fails with the solution applied"; cat "$log"; ok=0
  fi
  if [ -n "$pkgs" ] && ! go test -count=1 $pkgs ./stages >"$log" 2>&1; then
    fail "$dir: with the solution applied, the tests of the packages it touches fail"; cat "$log"; ok=0
  fi
  [ "$ok" = 1 ] && echo "solved: the check passes, and $(echo $pkgs ./stages | tr '\n' ' ')stay green ($((SECONDS - start)) s)"
  git apply -R "$patch"
done

if [ "$failed" != 0 ]; then echo "exercises: NOT proven"; exit 1; fi
echo "exercises: every check fails on the tree and passes with its solution ($SECONDS s)"
