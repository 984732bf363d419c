# sqlmux: a small runtime image of the release binary, run as a non-root user, no shell.
# Build: docker build -t sqlmux:dev .
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p sqlmux --bin sqlmux

# glibc and libgcc only: no shell, no package manager; uid 65532 ("nonroot").
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/target/release/sqlmux /usr/local/bin/sqlmux
COPY sqlmux.example.toml /etc/sqlmux/sqlmux.toml
USER 65532:65532
# MySQL, PostgreSQL, control API (probes, metrics), admin (MySQL and PostgreSQL protocol).
EXPOSE 6033 6432 6070 6032 6132
ENTRYPOINT ["/usr/local/bin/sqlmux"]
CMD ["--config", "/etc/sqlmux/sqlmux.toml"]
