package kafka

import (
	"reflect"
	"testing"
)

func TestParseListeners(t *testing.T) {
	got, err := ParseListeners(
		"PLAINTEXT://127.0.0.1:9092, SASL_SSL://127.0.0.1:9093,INTERNAL://0.0.0.0:9094",
		"SASL_SSL://broker.example:9093",
		"INTERNAL:SASL_PLAINTEXT")
	if err != nil {
		t.Fatal(err)
	}
	want := []Listener{
		{Name: "PLAINTEXT", Protocol: "PLAINTEXT", Address: "127.0.0.1:9092"},
		{Name: "SASL_SSL", Protocol: "SASL_SSL", Address: "127.0.0.1:9093", Advertised: "broker.example:9093"},
		{Name: "INTERNAL", Protocol: "SASL_PLAINTEXT", Address: "0.0.0.0:9094"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
}

func TestParseListenersRejects(t *testing.T) {
	for _, c := range []struct{ ls, ad, pm string }{
		{"PLAINTEXT:127.0.0.1:9092", "", ""},
		{"PLAINTEXT://127.0.0.1", "", ""},
		{"PLAINTEXT://127.0.0.1:9092,PLAINTEXT://127.0.0.1:9093", "", ""},
		{"INTERNAL://127.0.0.1:9092", "", ""},
		{"INTERNAL://127.0.0.1:9092", "", "INTERNAL:TLS"},
		{"PLAINTEXT://127.0.0.1:9092", "SSL://h:1", ""},
	} {
		if _, err := ParseListeners(c.ls, c.ad, c.pm); err == nil {
			t.Errorf("ParseListeners(%q, %q, %q) accepted", c.ls, c.ad, c.pm)
		}
	}
}
