package client_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stratalog/strata/client"
)

func TestSerdeRoundTrips(t *testing.T) {
	at := time.Date(2025, 3, 1, 12, 30, 0, 123456789, time.FixedZone("CET", 3600))
	check := func(name string, encode func() ([]byte, error), decodeEqual func([]byte) (bool, error)) {
		t.Helper()
		b, err := encode()
		if err != nil {
			t.Fatalf("%s: encode: %v", name, err)
		}
		ok, err := decodeEqual(b)
		if err != nil || !ok {
			t.Errorf("%s: decode(%q) did not give back the value (err %v)", name, b, err)
		}
	}
	check("JSON struct", func() ([]byte, error) { return client.JSON[Event]{}.Encode(Event{User: "ada", Seq: 3, At: at.UTC()}) },
		func(b []byte) (bool, error) {
			v, err := client.JSON[Event]{}.Decode(b)
			return reflect.DeepEqual(v, Event{User: "ada", Seq: 3, At: at.UTC()}), err
		})
	dict := map[string]any{"a": 1.5, "b": []any{"x", nil, true}, "c": map[string]any{"d": "e"}}
	check("JSON dict", func() ([]byte, error) { return client.JSON[map[string]any]{}.Encode(dict) },
		func(b []byte) (bool, error) {
			v, err := client.JSON[map[string]any]{}.Decode(b)
			return reflect.DeepEqual(v, dict), err
		})
	check("Time", func() ([]byte, error) { return client.Time{}.Encode(at) },
		func(b []byte) (bool, error) {
			v, err := client.Time{}.Decode(b)
			return v.Equal(at), err
		})
	check("String", func() ([]byte, error) { return client.String{}.Encode("héllo") },
		func(b []byte) (bool, error) {
			v, err := client.String{}.Decode(b)
			return v == "héllo", err
		})
	if b, _ := (client.NoKey{}).Encode(struct{}{}); b != nil {
		t.Errorf("NoKey encodes to %q, want a null key", b)
	}
	if _, err := (client.JSON[Event]{}).Decode([]byte("{")); err == nil {
		t.Error("JSON decoded a truncated object")
	}
	if _, err := (client.Time{}).Decode([]byte("yesterday")); err == nil {
		t.Error("Time decoded \"yesterday\"")
	}
}

// FuzzJSONSerde checks that whatever bytes a consumer receives, a value
// JSON decodes re-encodes to bytes that decode to the same value.
func FuzzJSONSerde(f *testing.F) {
	for _, s := range []string{`{}`, `{"a":1}`, `[1,"x",null]`, `"\u00e9"`, `1e400`, `{"a":{"b":[true]}}`, `nul`, "\xff"} {
		f.Add([]byte(s))
	}
	serde := client.JSON[any]{}
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := serde.Decode(b)
		if err != nil {
			// Valid JSON fails only for numbers beyond float64.
			var te *json.UnmarshalTypeError
			if json.Valid(b) && utf8.Valid(b) && !errors.As(err, &te) {
				t.Fatalf("valid JSON %q did not decode: %v", b, err)
			}
			return
		}
		enc, err := serde.Encode(v)
		if err != nil {
			t.Fatalf("decoded %q but cannot encode %#v: %v", b, v, err)
		}
		v2, err := serde.Decode(enc)
		if err != nil || !reflect.DeepEqual(v, v2) {
			t.Fatalf("%q -> %#v -> %q -> %#v (%v)", b, v, enc, v2, err)
		}
	})
}

// FuzzTimeSerde checks that a decoded time re-encodes to text that decodes
// to the same instant, and that String and Bytes are lossless.
func FuzzTimeSerde(f *testing.F) {
	for _, s := range []string{"2025-03-01T12:30:00Z", "2025-03-01T12:30:00.123456789+01:00", "0001-01-01T00:00:00Z", "x"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if s, _ := (client.String{}).Decode(b); !bytes.Equal([]byte(s), b) {
			t.Fatalf("String changed %q", b)
		}
		if d, _ := (client.Bytes{}).Decode(b); !bytes.Equal(d, b) {
			t.Fatalf("Bytes changed %q", b)
		}
		tm, err := client.Time{}.Decode(b)
		if err != nil {
			return
		}
		enc, err := client.Time{}.Encode(tm)
		if err != nil {
			t.Fatalf("encode %v: %v", tm, err)
		}
		back, err := client.Time{}.Decode(enc)
		if err != nil || !back.Equal(tm) {
			t.Fatalf("%q -> %v -> %q -> %v (%v)", b, tm, enc, back, err)
		}
	})
}

func BenchmarkJSONDecode(b *testing.B) {
	serde := client.JSON[Event]{}
	enc, _ := serde.Encode(Event{User: "ada", Seq: 42, At: time.Now().UTC(), Attrs: map[string]any{"plan": "pro", "seats": 3.0}})
	b.SetBytes(int64(len(enc)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := serde.Decode(enc); err != nil {
			b.Fatal(err)
		}
	}
}
