#!/usr/bin/env bash
# Install the real STIX-shifter CLI with its alertflex connector (8.1.3) into its own venv,
# .cache/stix-shifter-8.1.3, for the tests that drive it against the API. The connector pins
# its own dependencies, so it never shares the project venv. Idempotent: a complete venv is
# reused as it is. Prints the path of the stix-shifter executable.
set -euo pipefail
cd "$(dirname "$0")/.."
version=8.1.3
venv=".cache/stix-shifter-$version"
stamp="$venv/.installed"
if [ ! -f "$stamp" ]; then
    rm -rf "$venv"
    mkdir -p .cache
    "$(command -v python3.11 || command -v python3)" -m venv "$venv"
    "$venv/bin/pip" install -q --upgrade pip
    "$venv/bin/pip" install -q "stix-shifter==$version" "stix-shifter-utils==$version" \
        "stix-shifter-modules-alertflex==$version"
    "$venv/bin/stix-shifter" --help >/dev/null
    touch "$stamp"
fi
echo "$PWD/$venv/bin/stix-shifter"
