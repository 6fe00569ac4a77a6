#!/usr/bin/env bash
# Mutation testing: applies each mutant of scripts/mutants.txt alone to a
# scratch copy of the tree, rebuilds, runs the tests it names and prints a
# score. Slow (a rebuild per mutant), so not in CI. See scripts/mutate.py.
set -euo pipefail
exec python3 "$(dirname "$0")/mutate.py" "$@"
