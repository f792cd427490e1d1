#!/usr/bin/env bash
# Creates the project's Python environment in .venv at the repository root.
# Used to train the bundled example, to generate fixtures and for the Keras interop tests.
set -euo pipefail
root=$(cd "$(dirname "$0")/../../.." && pwd)
venv="$root/.venv"
requirements="$root/packages/examples/python/requirements.txt"
stamp="$venv/.requirements.sha256"
wanted=$(sha256sum "$requirements" | cut -d' ' -f1)

if [[ -f "$stamp" && "$(cat "$stamp")" == "$wanted" ]]; then
  echo "Python environment is up to date: $venv"
  exit 0
fi

python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --upgrade pip
"$venv/bin/pip" install --quiet -r "$requirements"
echo "$wanted" > "$stamp"
echo "Python environment ready: $venv"
