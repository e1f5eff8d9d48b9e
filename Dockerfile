# Multi-stage: a static, cgo-free binary on a distroless base, running as
# a non-root user.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -tags nomsgpack -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/sluice .

FROM gcr.io/distroless/static-debian12:nonroot
WORKDIR /app
COPY --from=build /out/sluice /app/sluice
ENV SLUICE_DATA_DIR=/app/data SQLITE_PATH=/app/data/sluice.db
VOLUME ["/app/data"]
EXPOSE 3000
USER nonroot:nonroot
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 CMD ["/app/sluice", "healthcheck"]
ENTRYPOINT ["/app/sluice"]
