# syntax=docker/dockerfile:1
#
# The `capstan` binary in a small image, for the Helm chart in charts/capstan:
#
#   docker build -t capstan:dev .
#   docker run --rm capstan:dev --help
#
# Stage 1 builds with cargo's registry, git and target directories in BuildKit cache
# mounts (a rebuild after a source change recompiles only capstan's crates); stage 2 is
# Debian slim with the binary alone, run as a non-root user.

# The toolchain CI tests with (the workspace's minimum is its rust-version, 1.89).
ARG RUST_VERSION=1.95
ARG DEBIAN_RELEASE=bookworm

FROM rust:${RUST_VERSION}-${DEBIAN_RELEASE} AS builder
WORKDIR /src
COPY . .
# The target directory is a cache mount, gone after this step: copy the binary out.
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/usr/local/cargo/git,sharing=locked \
    --mount=type=cache,target=/src/target,sharing=locked \
    cargo build --release -p capstan --locked \
    && install -D -m 0755 target/release/capstan /out/capstan

# Debian slim rather than distroless: the node agent's process runtime runs pods'
# commands as local processes, which usually want /bin/sh and coreutils.
FROM debian:${DEBIAN_RELEASE}-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 65532 capstan \
    && useradd --system --uid 65532 --gid 65532 --home-dir /var/lib/capstan \
        --create-home --shell /usr/sbin/nologin capstan
COPY --from=builder /out/capstan /usr/local/bin/capstan
USER 65532:65532
WORKDIR /var/lib/capstan
# Health and metrics: controller-manager 10257, scheduler 10259, node-agent 10248; the
# node agent's kubelet API (logs, exec, attach, port-forward) 10250
# (each binds 127.0.0.1 unless --bind-address says otherwise; the chart sets 0.0.0.0).
EXPOSE 10248 10250 10257 10259
ENTRYPOINT ["capstan"]
CMD ["--help"]
