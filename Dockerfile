# Multi-stage build on the official Swift image. Ubuntu 24.04 (noble) ships librdkafka 2.3, which
# is past the tagged-fields defect of < 2.2 (librdkafka PR #4278).
FROM swift:6.3-noble AS build
RUN apt-get update && apt-get install -y --no-install-recommends librdkafka-dev zlib1g-dev libmaxminddb-dev pkg-config \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Package.swift ./
COPY Sources ./Sources
COPY Tests ./Tests
RUN swift build -c release --product tokentrail --static-swift-stdlib \
    && install -D "$(swift build -c release --show-bin-path)/tokentrail" /out/tokentrail

FROM ubuntu:24.04
# libcurl4t64 (noble's name for libcurl 4): Foundation's URLSession, which fetches AWS credentials for
# MSK IAM authentication (STS, the container endpoint, IMDS), runs on libcurl.
RUN apt-get update && apt-get install -y --no-install-recommends librdkafka1 zlib1g libmaxminddb0 libcurl4t64 ca-certificates \
    && rm -rf /var/lib/apt/lists/* && useradd --system --uid 10001 tokentrail
COPY --from=build /out/tokentrail /usr/local/bin/tokentrail
COPY config/tokentrail.yaml /etc/tokentrail/tokentrail.yaml
# The file above, or the ConfigMap mounted over /etc/tokentrail, is read at start; the environment and
# flags still override it. Inside a container the metrics endpoint must listen on every interface to be
# reachable through a published port or by Prometheus and the kubelet.
ENV TOKENTRAIL_CONFIG=/etc/tokentrail/tokentrail.yaml \
    TOKENTRAIL_METRICS__ADDRESS=0.0.0.0
EXPOSE 9464
USER tokentrail
ENTRYPOINT ["/usr/local/bin/tokentrail"]
CMD ["run"]
