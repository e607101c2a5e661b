#!/usr/bin/env bash
# Re-resolve pyproject.toml's ranges in a scratch venv and write the exact set to constraints.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
python3 -m venv "$tmp/v"
"$tmp/v/bin/pip" install -q --upgrade pip
"$tmp/v/bin/pip" install -q -e '.[test]'
{ echo "# Exact versions a fresh install gets (pip install -c constraints.txt -e '.[test]')."
  echo "# Regenerate with scripts/lock.sh after changing pyproject.toml."
  "$tmp/v/bin/pip" freeze --exclude-editable | grep -v -i '^alertflow'; } > constraints.txt
echo "constraints.txt: $(grep -vc '^#' constraints.txt) pins"
