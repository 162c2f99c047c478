// Package testenv gives tests real PostgreSQL and S3-compatible (MinIO)
// services.
//
// PostgresURL returns the URL of a fresh, empty database and S3 a fresh,
// empty bucket. Each is removed in t.Cleanup. Both are safe to call from
// parallel tests. The server behind them is found once per test binary, in
// this order of preference:
//
//  1. Environment variables.
//     STRATA_TEST_POSTGRES_URL is the URL of a PostgreSQL server
//     (postgres://user:pass@host:port/db?...); every PostgresURL call creates
//     a new database on it with CREATE DATABASE and drops it afterwards.
//     STRATA_TEST_S3_ENDPOINT is the URL of an S3-compatible endpoint, with
//     STRATA_TEST_S3_ACCESS_KEY, STRATA_TEST_S3_SECRET_KEY and
//     STRATA_TEST_S3_REGION (default us-east-1); every S3 call creates a new
//     bucket on it. When a variable is set, it is the only source tried.
//  2. Containers through testcontainers-go, when a Docker engine answers a
//     ping within a fraction of a second (DOCKER_HOST or the usual socket
//     paths). The images default to postgres:16-alpine and minio/minio and
//     can be changed with STRATA_TEST_POSTGRES_IMAGE and
//     STRATA_TEST_MINIO_IMAGE; STRATA_TEST_DOCKER=0 skips this step.
//  3. Throwaway local processes. PostgreSQL comes from the highest
//     /usr/lib/postgresql/*/bin (Debian and Ubuntu packages) or from initdb
//     and postgres on PATH; when the tests run as root the server runs as
//     the postgres user. MinIO comes from STRATA_MINIO_BIN, else bin/minio
//     under the repository root, else minio on PATH. Each listens on a random
//     port of 127.0.0.1 and keeps its data and log in a directory under
//     os.TempDir().
//
// When nothing works the test is skipped with a message listing what was
// tried, except when CI=true: then the test fails.
//
// Packages that use this one should call Main from their TestMain, so that
// servers started by the test binary are stopped and their directories
// removed when it ends:
//
//	func TestMain(m *testing.M) { testenv.Main(m) }
//
// Local server processes also receive SIGKILL when the test binary dies,
// and directories left behind by a test binary that did not call Main are
// removed by the next one that starts a local server.
package testenv
