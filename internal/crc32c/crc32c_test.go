package crc32c

import "testing"

// TestChecksum checks the standard check value of CRC32C (the checksum of
// "123456789") and that of the empty input.
func TestChecksum(t *testing.T) {
	if got := Checksum([]byte("123456789")); got != 0xe3069283 {
		t.Errorf("Checksum(123456789) = %#x, want 0xe3069283", got)
	}
	if got := Checksum(nil); got != 0 {
		t.Errorf("Checksum(nil) = %#x, want 0", got)
	}
}
