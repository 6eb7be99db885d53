# syntax=docker/dockerfile:1
# Multi-stage build: compile in the Rust image, run in a slim Debian as a non-root user.

FROM rust:1.95-bookworm AS build
WORKDIR /src
# Dependencies first, so a source change does not rebuild the AWS SDK.
COPY Cargo.toml Cargo.lock ./
RUN mkdir src && echo 'fn main() {}' > src/main.rs && echo '' > src/lib.rs \
 && cargo build --release --locked --bin fixpoint \
 && rm -rf src
COPY app-manifest.yml ./
COPY migrations ./migrations
COPY src ./src
# Make cargo see the real sources as newer than the placeholder build.
RUN touch src/main.rs src/lib.rs && cargo build --release --locked --bin fixpoint

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin fixpoint \
 && mkdir -p /data && chown fixpoint:fixpoint /data
COPY --from=build /src/target/release/fixpoint /usr/local/bin/fixpoint
# Fly (and most hosts) mount volumes owned by root: take ownership of /data, then drop to
# the unprivileged user before Fixpoint runs. Fixpoint itself never runs as root.
RUN printf '%s\n' '#!/bin/sh' 'set -e' \
      'if [ "$(id -u)" = 0 ]; then chown -R fixpoint:fixpoint /data; exec setpriv --reuid=fixpoint --regid=fixpoint --init-groups "$@"; fi' \
      'exec "$@"' > /usr/local/bin/entrypoint && chmod 755 /usr/local/bin/entrypoint
WORKDIR /data
ENV PORT=8080 DATABASE_URL=sqlite:///data/fixpoint.sqlite FIXPOINT_ENV_FILE=/data/.env
EXPOSE 8080
VOLUME ["/data"]
ENTRYPOINT ["/usr/local/bin/entrypoint"]
CMD ["/usr/local/bin/fixpoint", "serve"]
