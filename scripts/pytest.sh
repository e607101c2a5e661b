#!/usr/bin/env bash
# Run the whole test suite; "no tests collected" (pytest exit 5) is a failure, as is any other non-zero exit.
set -uo pipefail
cd "$(dirname "$0")/.."
.venv/bin/python -m pytest "$@"
rc=$?
if [ $rc -eq 5 ]; then echo "scripts/pytest.sh: pytest collected no tests; that is a failure" >&2; exit 1; fi
exit $rc
