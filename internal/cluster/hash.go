package cluster

import (
	"encoding/binary"

	"github.com/stratalog/strata/metastore"
)

// Rendezvous (highest random weight) hashing: a key goes to the candidate
// with the highest score(key, node). Every node computes the same answer
// from the same candidates, keys spread evenly, and removing a node moves
// only the keys it had.

const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

func hashString(s string) uint64 {
	h := uint64(fnvOffset)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= fnvPrime
	}
	return mix64(h)
}

func hashPartition(k metastore.PartitionKey) uint64 {
	h := uint64(fnvOffset)
	for _, b := range k.TopicID {
		h ^= uint64(b)
		h *= fnvPrime
	}
	var p [4]byte
	binary.BigEndian.PutUint32(p[:], uint32(k.Partition))
	for _, b := range p {
		h ^= uint64(b)
		h *= fnvPrime
	}
	return mix64(h)
}

// mix64 is the splitmix64 finaliser: every input bit affects every output
// bit.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

func score(key uint64, node int32) uint64 {
	return mix64(key ^ mix64(uint64(uint32(node))+0x9e3779b97f4a7c15))
}

// pick returns the candidate with the highest score for key; ok is false
// when there are none. Ties (practically impossible) go to the lower id.
func pick(key uint64, candidates []Node) (Node, bool) {
	var best Node
	var bestScore uint64
	found := false
	for _, n := range candidates {
		s := score(key, n.ID)
		if !found || s > bestScore || (s == bestScore && n.ID < best.ID) {
			best, bestScore, found = n, s, true
		}
	}
	return best, found
}
