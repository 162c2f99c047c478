package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/stratalog/strata/client"
)

// record is a record as produce reads it and consume writes it.
type record struct {
	Key       []byte // nil: no key
	Value     []byte // nil: null value
	Headers   []client.Header
	Partition int32 // -1: let the partitioner choose
}

// jsonLine is the JSON form of a record, one per line: what consume
// --format json writes and produce --json reads. Keys and values are JSON
// strings when they are UTF-8 text, and key_base64/value_base64 otherwise.
// produce --json also takes any other JSON value as a key or value and
// stores its compact encoding, so {"value":{"id":1}} stores {"id":1}.
type jsonLine struct {
	Topic       string            `json:"topic,omitempty"`
	Partition   *int32            `json:"partition,omitempty"`
	Offset      *int64            `json:"offset,omitempty"`
	Timestamp   string            `json:"timestamp,omitempty"`
	Key         json.RawMessage   `json:"key,omitempty"`
	KeyBase64   []byte            `json:"key_base64,omitempty"`
	Value       json.RawMessage   `json:"value,omitempty"`
	ValueBase64 []byte            `json:"value_base64,omitempty"`
	Headers     map[string]string `json:"headers,omitempty"`
}

// parseJSONLine reads one produce --json line.
func parseJSONLine(line []byte) (record, error) {
	var jl jsonLine
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&jl); err != nil {
		return record{}, fmt.Errorf("not a JSON record (want {\"key\":..,\"value\":..,\"headers\":{..}}): %w", err)
	}
	if dec.More() {
		return record{}, errors.New("more than one JSON value on the line")
	}
	r := record{Partition: -1}
	var err error
	if r.Key, err = rawBytes("key", jl.Key, jl.KeyBase64); err != nil {
		return record{}, err
	}
	if r.Value, err = rawBytes("value", jl.Value, jl.ValueBase64); err != nil {
		return record{}, err
	}
	if jl.Partition != nil {
		if *jl.Partition < 0 {
			return record{}, fmt.Errorf("partition %d: want 0 or more", *jl.Partition)
		}
		r.Partition = *jl.Partition
	}
	for _, k := range sortedKeys(jl.Headers) {
		r.Headers = append(r.Headers, client.Header{Key: k, Value: []byte(jl.Headers[k])})
	}
	return r, nil
}

// rawBytes turns a JSON key or value into record bytes.
func rawBytes(field string, raw json.RawMessage, b64 []byte) ([]byte, error) {
	if b64 != nil {
		if len(raw) > 0 {
			return nil, fmt.Errorf("both %s and %s_base64 given", field, field)
		}
		return b64, nil
	}
	raw = bytes.TrimSpace(raw)
	switch {
	case len(raw) == 0 || string(raw) == "null":
		return nil, nil
	case raw[0] == '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, fmt.Errorf("%s: %w", field, err)
		}
		return []byte(s), nil
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return nil, fmt.Errorf("%s: %w", field, err)
	}
	return buf.Bytes(), nil
}

// formatJSONLine writes a consumed record as one JSON line.
func formatJSONLine(m client.Message[[]byte, []byte]) ([]byte, error) {
	jl := jsonLine{
		Topic:     m.Topic,
		Partition: &m.Partition,
		Offset:    &m.Offset,
		Timestamp: m.Timestamp.UTC().Format(time.RFC3339Nano),
	}
	var err error
	if jl.Key, jl.KeyBase64, err = jsonBytes(m.RawKey); err != nil {
		return nil, err
	}
	if jl.Value, jl.ValueBase64, err = jsonBytes(m.RawValue); err != nil {
		return nil, err
	}
	if len(m.Headers) > 0 {
		jl.Headers = make(map[string]string, len(m.Headers))
		for _, h := range m.Headers {
			jl.Headers[h.Key] = string(h.Value)
		}
	}
	return json.Marshal(jl)
}

// jsonBytes encodes record bytes as a JSON string when they are UTF-8, as
// base64 otherwise, and as null when nil.
func jsonBytes(b []byte) (json.RawMessage, []byte, error) {
	switch {
	case b == nil:
		return json.RawMessage("null"), nil, nil
	case utf8.Valid(b):
		s, err := json.Marshal(string(b))
		return s, nil, err
	}
	return nil, b, nil
}

// templateRecord is what --format template sees.
type templateRecord struct {
	Topic     string
	Partition int32
	Offset    int64
	Timestamp time.Time
	Key       string
	Value     string
	Headers   map[string]string
}

func newTemplateRecord(m client.Message[[]byte, []byte]) templateRecord {
	t := templateRecord{
		Topic: m.Topic, Partition: m.Partition, Offset: m.Offset, Timestamp: m.Timestamp,
		Key: string(m.RawKey), Value: string(m.RawValue), Headers: map[string]string{},
	}
	for _, h := range m.Headers {
		t.Headers[h.Key] = string(h.Value)
	}
	return t
}

// headerList parses repeated --header k=v flags, keeping order and
// repeated keys.
func headerList(flags []string) ([]client.Header, error) {
	var hs []client.Header
	for _, f := range flags {
		k, v, ok := bytes.Cut([]byte(f), []byte("="))
		if !ok || len(k) == 0 {
			return nil, usagef("--header %q: want key=value", f)
		}
		hs = append(hs, client.Header{Key: string(k), Value: v})
	}
	return hs, nil
}
