#!/usr/bin/env bash
# The container image of `processor`: build it from a binary built here, and test it.
#
#   tests/container.sh build   static musl binary (cargo, release), stripped, then the
#                              image from the root Dockerfile's `host` path (no base
#                              image is pulled: the context holds the binary and this
#                              machine's CA certificates)
#   tests/container.sh test    the image's tests (builds the image first if it is
#                              missing): size, user, entrypoint, command, port,
#                              environment, contents, --version/--help, --read-only,
#                              then the end-to-end chain with the consumer inside the
#                              container (--network=host) against LocalStack and moto on
#                              127.0.0.1, and a SIGTERM that must end it with exit 0
#
# IMAGE names the image (default localhost/cloudcoreo-processor:dev), IMAGE_PROFILE the
# cargo profile of the binary (default release). podman, runc and
# (to build) musl-tools are installed from Debian's packages when missing; where that is impossible the
# script says so and exits 0, unless CI is set, where it fails. podman runs with runc
# and explicit ulimits (a containers.conf in a temporary directory, CONTAINERS_CONF),
# which these machines need. The chain test uses the virtualenvs tests/run.sh installs
# under .local-aws/ (LocalStack, moto with boto3) and target/debug/event-rule (built
# when missing). Everything runs on free 127.0.0.1 ports and is stopped on exit.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
IMAGE=${IMAGE:-localhost/cloudcoreo-processor:dev}
# Cargo profile of the binary: `release` for images you ship; CI uses `static-ci`
# (less optimisation, same code) to stay within its time budget.
IMAGE_PROFILE=${IMAGE_PROFILE:-release}
TARGET=x86_64-unknown-linux-musl
MAX_IMAGE_BYTES=$((20 * 1000 * 1000))
state=${LOCAL_AWS_DIR:-$root/.local-aws}
REGION=us-east-1
QUEUE=cloudcoreo-events-queue

say() { echo "tests/container.sh: $*"; }
die() { echo "tests/container.sh: FAIL: $*" >&2; exit 1; }

in_ci() {
  case "${CI:-}" in '' | 0 | false | FALSE | False) return 1 ;; *) return 0 ;; esac
}

# Exits: 0 with a skip message, or 1 under CI.
skip() {
  if in_ci; then
    echo "tests/container.sh: ERROR: $* (CI is set: the container tests must run)" >&2
    exit 1
  fi
  echo "tests/container.sh: SKIPPED: $*"
  exit 0
}

# ---- clean-up of everything started ----
tmp=$(mktemp -d "${TMPDIR:-/tmp}/container-test.XXXXXX")
pids=()
containers=()
cleanup() {
  local c p
  for c in "${containers[@]}"; do podman rm -f -t 0 "$c" >/dev/null 2>&1 || true; done
  for p in "${pids[@]}"; do
    # LocalStack and moto lead their own process groups (setsid).
    kill -TERM -- "-$p" 2>/dev/null || kill -TERM "$p" 2>/dev/null || true
  done
  for p in "${pids[@]}"; do
    for _ in $(seq 1 30); do kill -0 "$p" 2>/dev/null || break; sleep 0.3; done
    kill -KILL -- "-$p" 2>/dev/null || kill -KILL "$p" 2>/dev/null || true
  done
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- packages from Debian: podman and runc; musl's C compiler for the build ----
# Installs the packages whose commands are missing; skips when that is impossible.
ensure_packages() { # "command:package"...
  local missing=() pair
  for pair in "$@"; do
    command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair#*:}")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    skip "${missing[*]} not installed and cannot be (installing needs root and apt-get)"
  fi
  say "installing ${missing[*]} from Debian's packages"
  local t=$SECONDS
  if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"; } >"$tmp/apt.log" 2>&1; then
    tail -20 "$tmp/apt.log" >&2
    skip "apt-get could not install ${missing[*]}"
  fi
  for pair in "$@"; do
    command -v "${pair%%:*}" >/dev/null 2>&1 || skip "${pair%%:*} still missing after installing ${pair#*:}"
  done
  say "${missing[*]} installed in $((SECONDS - t)) s"
}

ensure_podman() { ensure_packages podman:podman runc:runc; }

# runc and explicit ulimits: crun cannot set RLIMIT_NOFILE here.
podman_conf() {
  cat >"$tmp/containers.conf" <<'EOF'
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]

[engine]
runtime = "runc"
EOF
  export CONTAINERS_CONF=$tmp/containers.conf
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# ---- build ----
cmd_build() {
  local t0=$SECONDS t
  # ring compiles C for the target: cc-rs looks for x86_64-linux-musl-gcc.
  ensure_packages x86_64-linux-musl-gcc:musl-tools
  if ! rustup target list --installed | grep -qx "$TARGET"; then
    t=$SECONDS
    rustup target add "$TARGET"
    say "rustup target $TARGET added in $((SECONDS - t)) s"
  fi
  t=$SECONDS
  cargo build --profile "$IMAGE_PROFILE" --locked --target "$TARGET" -p processor --bin processor
  say "static binary ($IMAGE_PROFILE profile) built in $((SECONDS - t)) s"
  local bin=target/$TARGET/$IMAGE_PROFILE/processor
  local kind
  kind=$(file -b "$bin")
  case "$kind" in
    *static-pie\ linked* | *statically\ linked*) ;;
    *) die "$bin is not statically linked: $kind" ;;
  esac
  if ldd "$bin" 2>&1 | grep -q '=>'; then
    die "$bin links shared libraries: $(ldd "$bin" 2>&1)"
  fi
  local ctx=$tmp/context
  mkdir -p "$ctx"
  strip -o "$ctx/processor" "$bin"
  cp /etc/ssl/certs/ca-certificates.crt "$ctx/ca-certificates.crt"
  say "binary: $(stat -c %s "$ctx/processor") bytes, $(file -b "$ctx/processor" | grep -o "static[^,]*linked"), stripped"
  t=$SECONDS
  local before after id
  before=$(podman images --filter dangling=true --quiet --no-trunc | sort)
  # TARGETARCH only silences buildah's warning about the unused `build` stage's ARG.
  podman build --quiet --build-arg BINARY_FROM=host --build-arg TARGETARCH=amd64 \
    -f "$root/Dockerfile" -t "$IMAGE" "$ctx" >/dev/null
  # The untagged images this build left (its stages, the image it replaced).
  after=$(podman images --filter dangling=true --quiet --no-trunc | sort)
  for id in $(comm -13 <(echo "$before") <(echo "$after")); do
    podman rmi "$id" >/dev/null 2>&1 || true
  done
  say "image $IMAGE built in $((SECONDS - t)) s; build total $((SECONDS - t0)) s"
}

# ---- test ----
inspect() { podman image inspect --format "$1" "$IMAGE"; }

expect_eq() { # what got want
  [ "$2" = "$3" ] || die "$1: got '$2', expected '$3'"
  say "ok: $1 = $3"
}

check_image() {
  local size user entry cmd ports env
  size=$(inspect '{{.Size}}')
  [ "$size" -lt "$MAX_IMAGE_BYTES" ] || die "image is $size bytes, not under $MAX_IMAGE_BYTES"
  say "ok: image size $size bytes (< $MAX_IMAGE_BYTES)"
  expect_eq user "$(inspect '{{.Config.User}}')" "65532:65532"
  expect_eq entrypoint "$(inspect '{{json .Config.Entrypoint}}')" '["/processor"]'
  expect_eq command "$(inspect '{{json .Config.Cmd}}')" '["run"]'
  expect_eq "exposed ports" "$(inspect '{{range $p, $_ := .Config.ExposedPorts}}{{$p}} {{end}}')" "9090/tcp "
  env=$(inspect '{{range .Config.Env}}{{println .}}{{end}}')
  for want in PROCESSOR_LOG_FORMAT=json PROCESSOR_METRICS_ADDR=0.0.0.0:9090 SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt; do
    grep -qx "$want" <<<"$env" || die "image environment lacks $want: $env"
  done
  say "ok: environment"

  # Exactly the binary and the certificates, the certificates this machine's.
  local id files
  id=$(podman create "$IMAGE")
  containers+=("$id")
  podman export "$id" >"$tmp/rootfs.tar"
  podman rm "$id" >/dev/null
  files=$(tar -tf "$tmp/rootfs.tar" | grep -v '/$' | sort | tr '\n' ' ')
  expect_eq "files in the image" "$files" "etc/ssl/certs/ca-certificates.crt processor "
  mkdir -p "$tmp/rootfs"
  tar -C "$tmp/rootfs" -xf "$tmp/rootfs.tar"
  cmp -s "$tmp/rootfs/etc/ssl/certs/ca-certificates.crt" /etc/ssl/certs/ca-certificates.crt \
    || die "the image's CA certificates differ from /etc/ssl/certs/ca-certificates.crt"
  say "ok: CA certificates present"
}

check_runs() {
  local out code n
  out=$(podman run --rm "$IMAGE" --version)
  expect_eq "--version" "$out" "processor $(cargo pkgid -p processor | sed 's/.*[#@]//')"
  out=$(podman run --rm --read-only "$IMAGE" --help)
  for sub in run replay policy; do
    grep -Eq "^  $sub " <<<"$out" || die "--help does not list '$sub': $out"
  done
  say "ok: --help (read-only root filesystem)"
  # The default command is `run`, which needs a queue URL: a usage error (exit 2).
  code=0
  out=$(podman run --rm --read-only "$IMAGE" 2>&1) || code=$?
  expect_eq "exit code of the default command without a queue" "$code" 2
  grep -q -- '--queue-url' <<<"$out" || die "the usage error does not name --queue-url: $out"
  # Standard input reaches the binary; the output is the pipeline's.
  out=$(podman run --rm -i --read-only "$IMAGE" replay - <tests/fixtures/sample.ndjson 2>/dev/null)
  n=$(python3 -c 'import json, sys; print(sum(1 for l in sys.stdin if l.strip() and "arn" in json.loads(l)))' <<<"$out") \
    || die "replay in the container printed something else than NDJSON requests: $out"
  [ "$n" -gt 0 ] || die "replay of the sample in the container gave no request"
  say "ok: replay of the sample through standard input: $n requests"
}

start_localstack() { # port dir
  local py=$state/venv-localstack/bin/python
  mkdir -p "$2"
  GATEWAY_LISTEN=127.0.0.1:$1 LOCALSTACK_HOST=127.0.0.1:$1 SQS_ENDPOINT_STRATEGY=off \
    LOCALSTACK_VOLUME_DIR=$2/volume OVERRIDE_IN_DOCKER=0 FILESYSTEM_ROOT=$2/fs \
    SERVICES=sqs,sns,events,sts,iam EAGER_SERVICE_LOADING=1 DNS_ADDRESS=0 \
    SKIP_SSL_CERT_DOWNLOAD=1 DISABLE_EVENTS=1 SQS_DISABLE_CLOUDWATCH_METRICS=1 PYTHONUNBUFFERED=1 \
    setsid "$py" -m localstack.runtime.main >"$2/localstack.log" 2>&1 </dev/null &
  pids+=($!)
  disown
}

# Polls `command` until it succeeds, at most `seconds`.
wait_for() { # what seconds command...
  local what=$1 limit=$2; shift 2
  local deadline=$((SECONDS + limit))
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $deadline ] || return 1
    sleep 0.3
  done
  say "ok: $what"
}

# A container's log holds a line matching the pattern. Retried for a few seconds: conmon
# may still be writing the last lines of an exited container when `podman wait` returns.
log_has() { # container pattern
  local deadline=$((SECONDS + 10))
  until podman logs "$1" 2>&1 | grep -q -- "$2"; do
    [ $SECONDS -lt $deadline ] || return 1
    sleep 0.5
  done
}

localstack_ready() { # port dir
  curl -fsS "http://127.0.0.1:$1/_localstack/health" | grep -q '"sqs": "\(available\|running\)"' \
    && grep -q 'Ready\.' "$2/localstack.log"
}

chain_test() {
  local ls_py=$state/venv-localstack/bin/python moto_bin=$state/venv-moto/bin/moto_server
  local py=$state/venv-moto/bin/python
  if [ ! -x "$ls_py" ] || [ ! -x "$moto_bin" ]; then
    skip "LocalStack or moto is not installed under $state (tests/run.sh installs them)"
  fi
  local event_rule=target/debug/event-rule
  if [ ! -x "$event_rule" ]; then
    cargo build --locked -p event-rule --bin event-rule
  fi
  local t=$SECONDS ls_port moto_port metrics_port
  ls_port=$(free_port); moto_port=$(free_port); metrics_port=$(free_port)
  local ls="http://127.0.0.1:$ls_port" moto="http://127.0.0.1:$moto_port"
  start_localstack "$ls_port" "$tmp/localstack"
  setsid "$moto_bin" -H 127.0.0.1 -p "$moto_port" >"$tmp/moto.log" 2>&1 </dev/null &
  pids+=($!)
  disown
  wait_for "moto up" 60 curl -fsS "$moto/moto-api/" || die "moto did not start: $(tail -5 "$tmp/moto.log")"
  wait_for "LocalStack up" 120 localstack_ready "$ls_port" "$tmp/localstack" \
    || die "LocalStack did not start: $(tail -20 "$tmp/localstack/localstack.log")"

  # The stream: a logging trail (moto answers event-rule's CloudTrail check), then
  # queue, topic, rule and subscription on LocalStack.
  "$py" tests/container/chain.py trail --endpoint "$moto"
  local aws_env=(AWS_ENDPOINT_URL="$ls" AWS_ENDPOINT_URL_CLOUDTRAIL="$moto" AWS_REGION=$REGION
    AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_EC2_METADATA_DISABLED=true
    AWS_CONFIG_FILE=/nonexistent AWS_SHARED_CREDENTIALS_FILE=/nonexistent RUST_LOG=warn)
  env "${aws_env[@]}" "$event_rule" setup --regions $REGION --home-region $REGION --require-trail \
    >"$tmp/event-rule.log" 2>&1 || die "event-rule setup failed: $(cat "$tmp/event-rule.log")"
  local queue_url=$ls/000000000000/$QUEUE dlq_url=$ls/000000000000/$QUEUE-dlq
  say "stream set up in $((SECONDS - t)) s"

  # Six calls on the bus (two tags of one instance, a termination, a bucket policy, a
  # read-only call, a failed call): six messages on the queue, three requests out.
  local n
  n=$("$py" tests/container/chain.py put --endpoint "$ls" --set main --tag c0a1)
  "$py" tests/container/chain.py wait-depth --endpoint "$ls" --queue-url "$queue_url" --count "$n" --timeout 60

  # The consumer in the container: host network (LocalStack on 127.0.0.1), read-only
  # root, the output directory writable by the image's user only.
  local out=$tmp/out
  mkdir -p "$out" && chown 65532:65532 "$out" && chmod 0700 "$out"
  local run_env=(-e AWS_ENDPOINT_URL="$ls" -e AWS_REGION=$REGION -e AWS_ACCESS_KEY_ID=test
    -e AWS_SECRET_ACCESS_KEY=test -e AWS_EC2_METADATA_DISABLED=true
    -e PROCESSOR_METRICS_ADDR=127.0.0.1:$metrics_port)
  t=$SECONDS
  local code=0
  podman run --rm --read-only --network=host -v "$out:/out" "${run_env[@]}" "$IMAGE" \
    run --queue-url "$queue_url" --sink file:/out/requests.ndjson \
    --exit-when-idle 5 --wait-time-seconds 1 --max-hold 2 >"$tmp/run.out" 2>"$tmp/run.err" || code=$?
  [ "$code" = 0 ] || die "the consumer in the container exited $code: $(tail -20 "$tmp/run.err")"
  say "consumer in the container drained the queue in $((SECONDS - t)) s"
  grep -q '"message":"stopped"' "$tmp/run.err" || die "no JSON log line 'stopped': $(tail -5 "$tmp/run.err")"
  "$py" tests/container/chain.py check --file "$out/requests.ndjson" --set main --tag c0a1 \
    || die "the requests written in the container are not the expected ones"
  expect_eq "owner of the sink file" "$(stat -c %u:%g "$out/requests.ndjson")" "65532:65532"
  expect_eq "queue after the run (visible, in flight)" \
    "$("$py" tests/container/chain.py depth --endpoint "$ls" --queue-url "$queue_url")" "0 0"
  expect_eq "dead-letter queue" \
    "$("$py" tests/container/chain.py depth --endpoint "$ls" --queue-url "$dlq_url")" "0 0"

  # Long-running, then SIGTERM: ready on /readyz, healthy on /healthz, metrics served;
  # an event put meanwhile arrives; `podman stop` (SIGTERM) ends it with exit 0.
  local name=processor-sigterm-$$
  podman run -d --name "$name" --read-only --network=host -v "$out:/out" "${run_env[@]}" "$IMAGE" \
    run --queue-url "$queue_url" --sink file:/out/live.ndjson --wait-time-seconds 1 --max-hold 2 >/dev/null
  containers+=("$name")
  wait_for "/readyz 200" 60 curl -fsS "http://127.0.0.1:$metrics_port/readyz" \
    || die "/readyz never answered 200: $(podman logs "$name" 2>&1 | tail -5)"
  curl -fsS "http://127.0.0.1:$metrics_port/healthz" >/dev/null || die "/healthz is not 200"
  n=$("$py" tests/container/chain.py put --endpoint "$ls" --set one --tag c0a2)
  "$py" tests/container/chain.py wait-lines --file "$out/live.ndjson" --count 1 --timeout 60 \
    || die "the running consumer wrote nothing: $(podman logs "$name" 2>&1 | tail -5)"
  "$py" tests/container/chain.py check --file "$out/live.ndjson" --set one --tag c0a2 \
    || die "the running consumer's request is not the expected one"
  curl -fsS "http://127.0.0.1:$metrics_port/metrics" | grep -q '^processor_messages_received_total' \
    || die "/metrics has no processor_messages_received_total"
  say "ok: /readyz, /healthz, /metrics; the event put while running arrived"
  podman stop -t 30 "$name" >/dev/null
  code=$(podman wait "$name" 2>/dev/null || podman inspect --format '{{.State.ExitCode}}' "$name")
  expect_eq "exit code after SIGTERM" "$code" 0
  log_has "$name" 'SIGTERM: draining' \
    || die "no 'SIGTERM: draining' in the log: $(podman logs "$name" 2>&1 | tail -20)"
  expect_eq "queue after SIGTERM (visible, in flight)" \
    "$("$py" tests/container/chain.py depth --endpoint "$ls" --queue-url "$queue_url")" "0 0"

  # Draining: a sink that never answers holds the drain open for the grace period;
  # meanwhile /readyz turns 503 (no new work) while /healthz stays 200 (no restart),
  # and the consumer still exits 0 once the grace period is over.
  local hang_port drain_port
  hang_port=$(free_port); drain_port=$(free_port)
  setsid python3 -c 'import socket, time
s = socket.socket(); s.bind(("127.0.0.1", '"$hang_port"')); s.listen(64); time.sleep(3600)' </dev/null &
  pids+=($!)
  disown
  name=processor-drain-$$
  podman run -d --name "$name" --read-only --network=host "${run_env[@]}" \
    -e PROCESSOR_METRICS_ADDR=127.0.0.1:$drain_port "$IMAGE" \
    run --queue-url "$queue_url" --sink "http://127.0.0.1:$hang_port/rescans" \
    --wait-time-seconds 1 --shutdown-grace 8 >/dev/null
  containers+=("$name")
  wait_for "/readyz 200 (draining test)" 60 curl -fsS "http://127.0.0.1:$drain_port/readyz" \
    || die "/readyz never answered 200: $(podman logs "$name" 2>&1 | tail -5)"
  "$py" tests/container/chain.py put --endpoint "$ls" --set one --tag c0a3 >/dev/null
  wait_for "a message received" 60 received_one "$drain_port" \
    || die "the consumer received nothing: $(podman logs "$name" 2>&1 | tail -5)"
  podman kill --signal TERM "$name" >/dev/null
  wait_for "/readyz 503 while draining" 8 not_ready "$drain_port" \
    || die "/readyz did not turn 503 while draining"
  curl -fsS "http://127.0.0.1:$drain_port/healthz" >/dev/null || die "/healthz is not 200 while draining"
  code=$(podman wait "$name")
  expect_eq "exit code after draining for the grace period" "$code" 0
  log_has "$name" 'grace period over' \
    || die "no 'grace period over' in the log: $(podman logs "$name" 2>&1 | tail -20)"
}

received_one() { # metrics port
  curl -fsS "http://127.0.0.1:$1/metrics" | grep -Eq '^processor_messages_received_total [1-9]'
}

not_ready() { # metrics port
  [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$1/readyz")" = 503 ]
}

cmd_test() {
  local t0=$SECONDS
  if ! podman image exists "$IMAGE"; then
    say "$IMAGE does not exist: building it"
    cmd_build
  fi
  check_image
  check_runs
  chain_test
  say "all container tests passed in $((SECONDS - t0)) s"
}

case "${1:-}" in
  build) ensure_podman; podman_conf; cmd_build ;;
  test) ensure_podman; podman_conf; cmd_test ;;
  *) echo "usage: tests/container.sh build|test   (IMAGE=${IMAGE})" >&2; exit 2 ;;
esac
