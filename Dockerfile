# The `processor` image: one statically linked binary and the CA certificates, on
# `scratch`, run as a non-root numeric user. `processor run` is the default command.
#
# Two ways to get the binary, chosen with BINARY_FROM:
#
#   build (default)  compiled here, in a Rust image (RUST_IMAGE), from the repository:
#                      docker build -t cloudcoreo-processor .
#                    The target follows the platform: linux/amd64 builds
#                    x86_64-unknown-linux-musl, linux/arm64 aarch64-unknown-linux-musl
#                    (docker buildx build --platform linux/arm64 ...).
#
#   host             taken from the build context, for machines that cannot pull a
#                    base image: the context holds `processor` (a static musl binary
#                    built on the host) and `ca-certificates.crt`:
#                      podman build --build-arg BINARY_FROM=host -t IMAGE CONTEXT
#                    tests/container.sh build prepares such a context and builds it.
#
# Nothing else differs: both paths end in the same `runtime` stage.

ARG RUST_IMAGE=docker.io/library/rust:1-bookworm
ARG BINARY_FROM=build

# ---- build: the binary from source, static (musl), stripped ----
FROM ${RUST_IMAGE} AS build
ARG TARGETARCH
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends musl-tools ca-certificates \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN set -eu; \
    case "${TARGETARCH:-amd64}" in \
      amd64) target=x86_64-unknown-linux-musl ;; \
      arm64) target=aarch64-unknown-linux-musl ;; \
      *) echo "unsupported architecture: ${TARGETARCH}" >&2; exit 1 ;; \
    esac; \
    rustup target add "$target"; \
    cargo build --release --locked --target "$target" -p processor --bin processor; \
    mkdir -p /out; \
    strip -o /out/processor "target/$target/release/processor"; \
    cp /etc/ssl/certs/ca-certificates.crt /out/ca-certificates.crt

# ---- host: the binary and certificates from the build context ----
FROM scratch AS host
COPY processor /out/processor
COPY ca-certificates.crt /out/ca-certificates.crt

# ---- whichever BINARY_FROM names ----
FROM ${BINARY_FROM} AS binary

# ---- runtime ----
FROM scratch AS runtime
COPY --from=binary /out/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=binary /out/processor /processor
ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
    PROCESSOR_LOG_FORMAT=json \
    PROCESSOR_METRICS_ADDR=0.0.0.0:9090
USER 65532:65532
EXPOSE 9090
ENTRYPOINT ["/processor"]
CMD ["run"]
