#!/usr/bin/env bash
# Runs every test of the project on a fresh machine.
#
# Installs what the integration tests need into Python virtualenvs under .local-aws/
# (ignored by git): moto's server (the event-rule tests) and LocalStack (the end-to-end
# and consumer tests: EventBridge -> SNS -> SQS, `processor run`), tells the tests where
# they are (MOTO_SERVER_BIN, LOCALSTACK_PYTHON), builds the binaries the tests start,
# and runs the Rust tests of the whole workspace. Tests that need the shared CloudTrail
# corpus read it from $CLOUDTRAIL_CORPUS (.ci/run sets it); without it they say so and
# skip. Without LocalStack (no Python 3.13 here, or its install failed) the tests that
# need it say so and skip; when CI is set that is a failure instead.
#
# Usage: tests/run.sh [extra cargo test arguments]
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
state=${LOCAL_AWS_DIR:-$root/.local-aws}
mkdir -p "$state"
t_start=$SECONDS

in_ci() {
  case "${CI:-}" in '' | 0 | false | FALSE | False) return 1 ;; *) return 0 ;; esac
}

pick_python() {
  for p in python3.11 "$HOME/.pyenv/versions/3.11.7/bin/python3" python3; do
    if command -v "$p" >/dev/null 2>&1 && "$p" -c 'import sys; sys.exit(sys.version_info < (3, 9))'; then
      echo "$p"; return 0
    fi
  done
  return 1
}

# LocalStack 2026.3 runs on Python 3.13 only.
pick_python313() {
  for p in "$HOME/.pyenv/versions/3.13.0/bin/python" "$HOME"/.pyenv/versions/3.13.*/bin/python python3.13; do
    if command -v "$p" >/dev/null 2>&1 && "$p" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 13))' 2>/dev/null; then
      echo "$p"; return 0
    fi
  done
  return 1
}

# moto's server: EventBridge, SNS, SQS, STS, Organizations, CloudTrail, EC2 and IAM
# APIs on 127.0.0.1 for the event-rule tests (each test starts its own on a free port),
# and CloudTrail for the end-to-end test.
moto_venv=$state/venv-moto
if [ ! -x "$moto_venv/bin/moto_server" ]; then
  py=$(pick_python) || { echo "tests/run.sh: need Python >= 3.9 for moto" >&2; exit 1; }
  echo "tests/run.sh: installing moto[server] into $moto_venv"
  t=$SECONDS
  "$py" -m venv "$moto_venv"
  "$moto_venv/bin/pip" install --quiet --disable-pip-version-check 'moto[server]==5.2.5' 'boto3<2'
  echo "tests/run.sh: moto installed in $((SECONDS - t)) s"
fi
export MOTO_SERVER_BIN=$moto_venv/bin/moto_server

# LocalStack (host mode, no Docker): the whole EventBridge -> SNS -> SQS chain and an
# SQS fast enough for the consumer's load tests. Pinned; the extra pins are what this
# version needs to start. A marker file records a complete install.
localstack_pins=('localstack-core[runtime]==2026.3.0' 'cbor2<6' 'pyopenssl==24.2.1' 'cryptography==43.0.3' 'service_identity<25')
ls_venv=$state/venv-localstack
ls_marker=$ls_venv/.installed
ls_want=$(printf '%s\n' "${localstack_pins[@]}")
install_localstack() {
  local py
  py=$(pick_python313) || { echo "tests/run.sh: no Python 3.13 found (LocalStack needs it)" >&2; return 1; }
  echo "tests/run.sh: installing LocalStack into $ls_venv (with $py)"
  local t=$SECONDS
  rm -rf "$ls_venv"
  "$py" -m venv "$ls_venv" || return 1
  "$ls_venv/bin/pip" install --quiet --disable-pip-version-check "${localstack_pins[@]}" || return 1
  "$ls_venv/bin/python" -c 'import localstack.runtime.main, rolo' || return 1
  printf '%s\n' "$ls_want" > "$ls_marker"
  echo "tests/run.sh: LocalStack installed in $((SECONDS - t)) s"
}
if [ -f "$ls_marker" ] && [ "$(cat "$ls_marker")" = "$ls_want" ] || install_localstack; then
  export LOCALSTACK_PYTHON=$ls_venv/bin/python
else
  rm -rf "$ls_venv"
  unset LOCALSTACK_PYTHON
  if in_ci; then
    echo "tests/run.sh: ERROR: LocalStack could not be installed, and CI is set: the end-to-end and consumer tests must run" >&2
    exit 1
  fi
  echo "tests/run.sh: LocalStack could not be installed: the end-to-end and consumer tests will print that they skip" >&2
fi

# One LocalStack for the sink tests (processor/sinks/tests/*_localstack.rs read
# LOCALSTACK_ENDPOINT; without it they print that they skip), stopped on exit.
if [ -n "${LOCALSTACK_PYTHON:-}" ]; then
  sinks_ls_dir=$(mktemp -d "${TMPDIR:-/tmp}/sinks-localstack.XXXXXX")
  sinks_ls_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  GATEWAY_LISTEN=127.0.0.1:$sinks_ls_port LOCALSTACK_HOST=127.0.0.1:$sinks_ls_port SQS_ENDPOINT_STRATEGY=off \
    LOCALSTACK_VOLUME_DIR=$sinks_ls_dir/volume OVERRIDE_IN_DOCKER=0 FILESYSTEM_ROOT=$sinks_ls_dir/fs \
    SERVICES=sqs,sns,events,sts,iam EAGER_SERVICE_LOADING=1 DNS_ADDRESS=0 SKIP_SSL_CERT_DOWNLOAD=1 \
    DISABLE_EVENTS=1 SQS_DISABLE_CLOUDWATCH_METRICS=1 PYTHONUNBUFFERED=1 \
    setsid "$LOCALSTACK_PYTHON" -m localstack.runtime.main >"$sinks_ls_dir/localstack.log" 2>&1 </dev/null &
  sinks_ls_pid=$!
  disown
  trap 'kill -KILL -- "-$sinks_ls_pid" 2>/dev/null; rm -rf "$sinks_ls_dir"' EXIT
  for _ in $(seq 1 400); do
    grep -q 'Ready\.' "$sinks_ls_dir/localstack.log" && break
    sleep 0.3
  done
  if ! grep -q 'Ready\.' "$sinks_ls_dir/localstack.log"; then
    tail -20 "$sinks_ls_dir/localstack.log" >&2
    echo "tests/run.sh: ERROR: LocalStack for the sink tests did not start" >&2
    exit 1
  fi
  export LOCALSTACK_ENDPOINT=http://127.0.0.1:$sinks_ls_port
fi

if [ -z "${CLOUDTRAIL_CORPUS:-}" ]; then
  echo "tests/run.sh: CLOUDTRAIL_CORPUS is not set: the corpus replay tests will skip"
fi
echo "tests/run.sh: tools ready after $((SECONDS - t_start)) s"

# The tests start `processor run`, `processor replay` and `event-rule`: binaries of
# other packages, which `cargo test` does not build for them.
t=$SECONDS
cargo build --workspace --bins --locked
echo "tests/run.sh: binaries built in $((SECONDS - t)) s"

t=$SECONDS
status=0
cargo test --workspace --locked --no-fail-fast "$@" || status=$?
echo "tests/run.sh: cargo test took $((SECONDS - t)) s (exit $status)"

# The container image: built from a host-built static binary, then its tests (the
# consumer inside it against LocalStack). Skips with a message where podman cannot be
# installed; under CI that fails.
t=$SECONDS
{ tests/container.sh build && tests/container.sh test; } || status=1
echo "tests/run.sh: container image built and tested in $((SECONDS - t)) s; whole run $((SECONDS - t_start)) s"
exit $status
