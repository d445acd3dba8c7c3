# technic's container image: `technic serve` (or `technic worker`) on a slim Debian, as a non-root
# user, listening on 0.0.0.0:8000.
#
#   docker build -t technic .
#   docker run -p 8000:8000 technic                          # the demo market
#   docker run -p 8000:8000 -v /srv/bars:/data:ro technic serve --data /data
#
# Configuration is the environment (.env.example lists every variable).

# Build in the Rust image of the workspace's minimum version. jemalloc's build needs make, which
# the slim image lacks.
FROM rust:1.89-slim-bookworm AS build
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends make \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p technic-cli \
    && cp target/release/technic /usr/local/bin/technic

# Run in a slim Debian with the same C library, holding only the binary and CA certificates (for
# Polygon.io over HTTPS). The health check is bash's /dev/tcp, so no HTTP client is installed.
FROM debian:bookworm-slim AS runtime
COPY --from=build /usr/local/bin/technic /usr/local/bin/technic
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
RUN useradd --system --uid 10001 --home-dir /var/lib/technic --create-home technic
USER 10001:10001
ENV HOST=0.0.0.0 \
    PORT=8000 \
    TECHNIC_HOME=/var/lib/technic \
    SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
WORKDIR /var/lib/technic
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=5s --start-period=10s --retries=3 \
    CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/${PORT} && printf 'GET /health HTTP/1.0\\r\\n\\r\\n' >&3 && head -n 1 <&3 | grep -q ' 200 '"]
ENTRYPOINT ["technic"]
CMD ["serve"]
