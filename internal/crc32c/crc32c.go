// Package crc32c is the CRC32C (Castagnoli) checksum, which three formats
// Strata reads and writes share: Kafka v2 record batches, segment object
// footers and the checksum of an S3 upload.
package crc32c

import "hash/crc32"

var table = crc32.MakeTable(crc32.Castagnoli)

// Checksum returns the CRC32C of b.
func Checksum(b []byte) uint32 { return crc32.Checksum(b, table) }
