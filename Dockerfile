# crest container image.
#
#   docker build -t crest .
#   docker run -d --name crest -p 8080:8080 -v crest-data:/var/lib/crest crest
#   curl http://127.0.0.1:8080/healthz
#
# Out of the box the container serves plain HTTP on 0.0.0.0:8080 with the
# embedded SQLite store at /var/lib/crest/crest.db (a volume). Every setting
# can be changed with CREST_* variables (`docker run -e CREST_MODE=production`)
# or flags after the image name (`docker run … crest serve --mode production`);
# see config/crest.toml and README.md.
#
# Ports: crest runs as the unprivileged user 65532, which cannot bind ports
# below 1024. It therefore listens on the high ports 8080 (HTTP) and 8443
# (HTTPS, when CREST_TLS_LISTEN=0.0.0.0:8443 is set) inside the container, and
# Docker publishes them on the host's 80 and 443:
#
#   docker run -d -p 80:8080 -p 443:8443 -v crest-data:/var/lib/crest \
#     -e CREST_TLS_LISTEN=0.0.0.0:8443 -e CREST_ACME_CHALLENGE=http-01 \
#     -e CREST_ACME_DOMAIN=api.example.com -e CREST_ACME_EMAIL=ops@example.com \
#     -e CREST_ACME_DIRECTORY=letsencrypt-staging crest
#
# With mapped ports say CREST_ACME_CHALLENGE=http-01: crest only picks
# tls-alpn-01 by itself when it listens on 443. EXPOSE below lists 80 and 443
# as the public ports of that mapping and 8080/8443 as the ports crest binds.
# deploy/compose/ has ready-made Compose setups.

ARG RUST_VERSION=1.95

# ---------------------------------------------------------------------------
# Builder: compile crest in release mode.
# ---------------------------------------------------------------------------
FROM rust:${RUST_VERSION}-bookworm AS builder
WORKDIR /build

# 1. Dependencies only, in their own layer: this layer is reused as long as
#    Cargo.toml and Cargo.lock do not change, so editing src/ does not
#    rebuild the ~300 crates crest depends on. The dummy main.rs/lib.rs only
#    exist to make cargo build the dependency graph.
COPY Cargo.toml Cargo.lock ./
RUN mkdir -p src \
 && echo 'fn main() {}' > src/main.rs \
 && echo '' > src/lib.rs \
 && cargo build --release --locked \
 && rm -rf src

# 2. The real sources. migrations/ must be here before this build:
#    src/store/migrations.rs embeds migrations/sqlite/ and
#    migrations/postgres/ into the binary at compile time (include_str!).
COPY src ./src
COPY migrations ./migrations
# touch: the dummy build left newer fingerprints for the crest crate itself;
# make cargo see the real files as changed so it recompiles crest.
RUN touch src/main.rs src/lib.rs \
 && cargo build --release --locked \
 && install -D -m 0755 target/release/crest /out/usr/local/bin/crest \
 && mkdir -p /out/var/lib/crest

# ---------------------------------------------------------------------------
# Runtime: distroless "cc" = glibc, libgcc_s, ca-certificates and tzdata, no
# shell, no package manager. Matches the builder's Debian 12 (bookworm) glibc.
# crest needs the CA certificates (/etc/ssl/certs) to reach Let's Encrypt:
# instant-acme verifies the ACME server against the system roots. SQLite is
# compiled into crest, so no other library is needed.
# ---------------------------------------------------------------------------
FROM gcr.io/distroless/cc-debian12:nonroot AS runtime

COPY --from=builder /out/usr/local/bin/crest /usr/local/bin/crest
# The licences of the crates compiled into crest (deploy/notices/notices.py
# writes it from Cargo.lock; a test checks it is current).
COPY deploy/notices/THIRD_PARTY_NOTICES /usr/share/doc/crest/THIRD_PARTY_NOTICES
# The state directory, owned by the non-root user. A new named volume mounted
# here starts as a copy of it, ownership included, so crest can write to it.
COPY --from=builder --chown=65532:65532 /out/var/lib/crest /var/lib/crest

# Defaults that make `docker run crest` work: listen on every interface of the
# container (not just its loopback), keep state on the volume.
ENV PATH=/usr/local/bin:/usr/bin:/bin \
    CREST_LISTEN=0.0.0.0:8080 \
    CREST_STORE=sqlite:/var/lib/crest/crest.db

# 65532 is distroless' "nonroot" user; never run as root.
USER 65532:65532
WORKDIR /var/lib/crest
VOLUME ["/var/lib/crest"]

# 8080/8443: what crest binds in the container (HTTP, HTTPS).
# 80/443: the host ports they are published on (-p 80:8080 -p 443:8443).
EXPOSE 80 443 8080 8443

# `crest healthcheck` reads the same CREST_* settings as `crest serve`,
# requests GET /healthz on the plain listener (0.0.0.0 -> 127.0.0.1) and
# exits 0 on 200. Exec form: there is no shell or curl in this image.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["crest", "healthcheck"]

# crest exits 0 after SIGTERM (docker stop), after the drain
# (CREST_SHUTDOWN_DELAY, 0s unless set: /readyz fails while crest serves on)
# and once in-flight requests finished (at most CREST_SHUTDOWN_TIMEOUT, 10s:
# docker stop's default grace period is also 10s, so use `docker stop -t 15`,
# or stop_grace_period in Compose, above the delay plus the timeout).
STOPSIGNAL SIGTERM
ENTRYPOINT ["crest"]
CMD ["serve"]
