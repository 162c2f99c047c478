# syntax=docker/dockerfile:1
#
# strata container image. Build for the machine you run on:
#   docker build -t strata .
# or for both Fargate architectures at once:
#   docker buildx build --platform linux/amd64,linux/arm64 -t REGISTRY/strata:TAG --push .
# The image runs `strata serve`; configure it with STRATA_* environment
# variables (see docs/deploy.md). Other subcommands:
#   docker run --rm --entrypoint /usr/local/bin/strata strata migrate

# The builder runs on the build machine's own architecture and cross-compiles:
# strata is pure Go (no cgo), so no emulation is needed.
FROM --platform=$BUILDPLATFORM golang:1.26 AS build
WORKDIR /src
# The SDK in client/ is a module of its own that the root module replaces
# with that directory: its go.mod is part of the module graph.
COPY go.mod go.sum ./
COPY client/go.mod client/go.sum client/
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG TARGETOS=linux
ARG TARGETARCH
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH \
    go build -trimpath -ldflags="-s -w" -o /out/strata ./cmd/strata

# Static binary, CA certificates for S3 over TLS, no shell, runs as an
# unprivileged user (uid 65532).
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/strata /usr/local/bin/strata
USER nonroot:nonroot
# Kafka listener, admin HTTP (/metrics, /healthz, /readyz).
EXPOSE 9092 9644
ENTRYPOINT ["/usr/local/bin/strata", "serve"]
