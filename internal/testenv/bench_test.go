package testenv_test

import (
	"testing"

	"github.com/stratalog/strata/internal/testenv"
)

// BenchmarkPostgresURL measures creating a fresh database; dropping it is
// part of the test's clean-up, outside the timed loop.
func BenchmarkPostgresURL(b *testing.B) {
	testenv.PostgresURL(b) // start the server outside the measurement
	b.ResetTimer()
	for b.Loop() {
		testenv.PostgresURL(b)
	}
}

// BenchmarkS3 measures creating a fresh bucket.
func BenchmarkS3(b *testing.B) {
	testenv.S3(b)
	b.ResetTimer()
	for b.Loop() {
		testenv.S3(b)
	}
}
