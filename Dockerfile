# Multi-stage build on the official Swift image. Ubuntu 24.04 (noble) ships librdkafka 2.3, which
# is past the tagged-fields defect of < 2.2 (librdkafka PR #4278).
#
# Pinned (docs/deployment.md, "The image and its pinned versions"):
# - base images by digest: the multi-platform index of swift:6.3.1-noble and of ubuntu:24.04 (noble);
# - Debian packages by an Ubuntu archive snapshot (snapshot.ubuntu.com): every apt-get sees the archive as
#   it was at UBUNTU_SNAPSHOT, so the same packages at the same versions on every build;
# - Swift packages: `exact:` versions in Package.swift for the direct dependencies, and the transitive
#   ones below pinned with `swift package resolve NAME --version V` before the build.
# Move the three together, deliberately (security updates come with a newer snapshot and digests).
ARG UBUNTU_SNAPSHOT=20260805T000000Z

FROM swift:6.3.1-noble@sha256:af0181a2fe491b45c935a962a45ab77db3d0b867016e481ac164704f09c656fa AS build
ARG UBUNTU_SNAPSHOT
RUN sed -i -e "s#http://\(archive\|security\)\.ubuntu\.com/ubuntu/\?#http://snapshot.ubuntu.com/ubuntu/${UBUNTU_SNAPSHOT}/#" \
           -e "s#http://ports\.ubuntu\.com/ubuntu-ports/\?#http://snapshot.ubuntu.com/ubuntu-ports/${UBUNTU_SNAPSHOT}/#" \
           /etc/apt/sources.list.d/ubuntu.sources \
    && ! grep -E '^URIs:' /etc/apt/sources.list.d/ubuntu.sources | grep -v snapshot.ubuntu.com \
    && apt-get update && apt-get install -y --no-install-recommends librdkafka-dev zlib1g-dev libmaxminddb-dev pkg-config \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Package.swift ./
# The versions the project is built and tested with; a version that cannot be had fails the build.
RUN swift package resolve \
    && swift package resolve swift-asn1 --version 1.7.4 \
    && swift package resolve swift-atomics --version 1.3.0 \
    && swift package resolve swift-collections --version 1.6.0 \
    && swift package resolve swift-system --version 1.8.1
COPY Sources ./Sources
COPY Tests ./Tests
RUN swift build -c release --product tokentrail --static-swift-stdlib \
    && install -D "$(swift build -c release --show-bin-path)/tokentrail" /out/tokentrail

FROM ubuntu:24.04@sha256:561618e2c15bf2397621dd04f96926663a3b5616c189cf7e38db7e82f5c538ea
ARG UBUNTU_SNAPSHOT
# libcurl4t64 (noble's name for libcurl 4): Foundation's URLSession, which fetches AWS credentials for
# MSK IAM authentication (STS, the container endpoint, IMDS), runs on libcurl.
RUN sed -i -e "s#http://\(archive\|security\)\.ubuntu\.com/ubuntu/\?#http://snapshot.ubuntu.com/ubuntu/${UBUNTU_SNAPSHOT}/#" \
           -e "s#http://ports\.ubuntu\.com/ubuntu-ports/\?#http://snapshot.ubuntu.com/ubuntu-ports/${UBUNTU_SNAPSHOT}/#" \
           /etc/apt/sources.list.d/ubuntu.sources \
    && ! grep -E '^URIs:' /etc/apt/sources.list.d/ubuntu.sources | grep -v snapshot.ubuntu.com \
    && apt-get update && apt-get install -y --no-install-recommends librdkafka1 zlib1g libmaxminddb0 libcurl4t64 ca-certificates \
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
