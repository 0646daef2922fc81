#!/usr/bin/env bash
# Runs every test of the project on a fresh machine.
#
# Installs what the integration tests need (moto's server, in a Python virtualenv under
# .local-aws/, ignored by git), tells the tests where it is, and runs the Rust tests of
# the whole workspace. Tests that need the shared CloudTrail corpus read it from
# $CLOUDTRAIL_CORPUS (.ci/run sets it); without it they say so and skip.
#
# Usage: tests/run.sh [extra cargo test arguments]
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
state=${LOCAL_AWS_DIR:-$root/.local-aws}
mkdir -p "$state"

pick_python() {
  for p in python3.11 "$HOME/.pyenv/versions/3.11.7/bin/python3" python3; do
    if command -v "$p" >/dev/null 2>&1 && "$p" -c 'import sys; sys.exit(sys.version_info < (3, 9))'; then
      echo "$p"; return 0
    fi
  done
  return 1
}

# moto's server: EventBridge, SNS, SQS, STS, Organizations, CloudTrail, EC2 and IAM
# APIs on 127.0.0.1 for the event-rule tests (each test starts its own on a free port).
moto_venv=$state/venv-moto
if [ ! -x "$moto_venv/bin/moto_server" ]; then
  py=$(pick_python) || { echo "tests/run.sh: need Python >= 3.9 for moto" >&2; exit 1; }
  echo "tests/run.sh: installing moto[server] into $moto_venv"
  "$py" -m venv "$moto_venv"
  "$moto_venv/bin/pip" install --quiet --disable-pip-version-check 'moto[server]==5.2.5' 'boto3<2'
fi
export MOTO_SERVER_BIN=$moto_venv/bin/moto_server

if [ -z "${CLOUDTRAIL_CORPUS:-}" ]; then
  echo "tests/run.sh: CLOUDTRAIL_CORPUS is not set: the corpus replay tests will skip"
fi

cargo test --workspace --locked "$@"
