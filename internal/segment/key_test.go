package segment

import (
	"regexp"
	"testing"
	"time"

	"github.com/google/uuid"
)

func TestObjectKeys(t *testing.T) {
	now := time.UnixMilli(1700000000123)
	l0 := regexp.MustCompile(`^p/[0-9a-f]{4}/1700000000123-[0-9a-f]{16}\.seg$`)
	topic := uuid.MustParse("0b3c8f6e-1d2a-4c5b-9e7f-112233445566")
	l1 := regexp.MustCompile(`^p/[0-9a-f]{4}/0b3c8f6e-1d2a-4c5b-9e7f-112233445566-7-00000000000000000042-[0-9a-f]{16}\.seg$`)
	seen := map[string]bool{}
	for range 100 {
		k0, k1 := Level0Key("p/", now), Level1Key("p/", topic, 7, 42)
		if !l0.MatchString(k0) || !l1.MatchString(k1) {
			t.Fatalf("keys %q and %q", k0, k1)
		}
		if !IsObjectKey(k0) || !IsObjectKey(k1) {
			t.Fatalf("%q or %q not taken for an object key", k0, k1)
		}
		if seen[k0] || seen[k1] {
			t.Fatalf("key %q or %q picked twice", k0, k1)
		}
		seen[k0], seen[k1] = true, true
	}
	for _, k := range []string{"p/00aa/backup.tar", "p/00aa/x.seg.tmp", "", "seg"} {
		if IsObjectKey(k) {
			t.Errorf("IsObjectKey(%q) = true", k)
		}
	}
}
