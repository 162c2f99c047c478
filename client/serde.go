package client

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// Serde encodes values of type T into record keys or values and decodes them
// back. Decode(Encode(v)) must give back v.
type Serde[T any] interface {
	Encode(T) ([]byte, error)
	Decode([]byte) (T, error)
}

// JSON encodes values with encoding/json: JSON[Order]{} for a struct,
// JSON[map[string]any]{} for free-form objects, JSON[time.Time]{} for
// RFC 3339 timestamps.
type JSON[T any] struct{}

// Encode returns the JSON encoding of v.
func (JSON[T]) Encode(v T) ([]byte, error) { return json.Marshal(v) }

// Decode parses b as JSON into a T.
func (JSON[T]) Decode(b []byte) (T, error) {
	var v T
	err := json.Unmarshal(b, &v)
	return v, err
}

// String stores a string as its UTF-8 bytes.
type String struct{}

// Encode returns the bytes of s.
func (String) Encode(s string) ([]byte, error) { return []byte(s), nil }

// Decode returns b as a string.
func (String) Decode(b []byte) (string, error) { return string(b), nil }

// Bytes passes bytes through unchanged.
type Bytes struct{}

// Encode returns b.
func (Bytes) Encode(b []byte) ([]byte, error) { return b, nil }

// Decode returns b.
func (Bytes) Decode(b []byte) ([]byte, error) { return b, nil }

// Time stores a time.Time as RFC 3339 text with nanoseconds, which sorts
// and reads well in any consumer.
type Time struct{}

// Encode formats t as RFC 3339 with nanoseconds.
func (Time) Encode(t time.Time) ([]byte, error) { return []byte(t.Format(time.RFC3339Nano)), nil }

// Decode parses RFC 3339 text.
func (Time) Decode(b []byte) (time.Time, error) { return time.Parse(time.RFC3339Nano, string(b)) }

// NoKey is the Serde of records without a key: it encodes to a null key,
// so records spread over partitions instead of hashing to one.
type NoKey struct{}

// Encode returns nil, a null key.
func (NoKey) Encode(struct{}) ([]byte, error) { return nil, nil }

// Decode ignores b.
func (NoKey) Decode([]byte) (struct{}, error) { return struct{}{}, nil }

// Funcs makes a Serde of two functions, for one-line custom formats.
type Funcs[T any] struct {
	EncodeFunc func(T) ([]byte, error)
	DecodeFunc func([]byte) (T, error)
}

// Encode calls EncodeFunc.
func (f Funcs[T]) Encode(v T) ([]byte, error) { return f.EncodeFunc(v) }

// Decode calls DecodeFunc.
func (f Funcs[T]) Decode(b []byte) (T, error) { return f.DecodeFunc(b) }

// Producer produces typed records to one topic.
type Producer[K, V any] struct {
	c      *Client
	topic  string
	keys   Serde[K]
	values Serde[V]
}

// NewProducer returns a Producer of keys K and values V to topic. The type
// parameters are inferred from the serdes:
//
//	orders := client.NewProducer(c, "orders", client.String{}, client.JSON[Order]{})
func NewProducer[K, V any](c *Client, topic string, keys Serde[K], values Serde[V]) *Producer[K, V] {
	return &Producer[K, V]{c: c, topic: topic, keys: keys, values: values}
}

// Topic returns the topic the producer writes to.
func (p *Producer[K, V]) Topic() string { return p.topic }

func (p *Producer[K, V]) encode(key K, value V) (kb, vb []byte, err error) {
	if kb, err = p.keys.Encode(key); err != nil {
		return nil, nil, &Error{Op: "encode key", Resource: p.topic, Err: err}
	}
	if vb, err = p.values.Encode(value); err != nil {
		return nil, nil, &Error{Op: "encode value", Resource: p.topic, Err: err}
	}
	return kb, vb, nil
}

// Produce encodes and sends one record and waits for its acknowledgement,
// as Client.Produce does.
func (p *Producer[K, V]) Produce(ctx context.Context, key K, value V, opts ...RecordOption) (Offset, error) {
	kb, vb, err := p.encode(key, value)
	if err != nil {
		return Offset{}, err
	}
	return p.c.Produce(ctx, p.topic, kb, vb, opts...)
}

// ProduceAsync encodes and buffers one record, as Client.ProduceAsync does.
// An encoding error is reported to done (if not nil) before ProduceAsync
// returns.
func (p *Producer[K, V]) ProduceAsync(ctx context.Context, key K, value V, done func(Offset, error), opts ...RecordOption) {
	kb, vb, err := p.encode(key, value)
	if err != nil {
		if done != nil {
			done(Offset{}, err)
		}
		return
	}
	p.c.ProduceAsync(ctx, p.topic, kb, vb, done, opts...)
}

// DecodeError is returned by Consumer.Run for a record whose key or value
// its Serde cannot decode. The offsets before it are committed; the record
// itself is not, so a restarted consumer meets it again.
type DecodeError struct {
	Topic     string
	Partition int32
	Offset    int64
	Part      string // "key" or "value"
	Err       error
}

func (e *DecodeError) Error() string {
	return fmt.Sprintf("decode %s of %s/%d@%d: %v; fix the producer, or move the group past the record "+
		"with `strata groups reset-offsets GROUP --topic %s --partition %d --to-offset %d`",
		e.Part, e.Topic, e.Partition, e.Offset, e.Err, e.Topic, e.Partition, e.Offset+1)
}

func (e *DecodeError) Unwrap() error { return e.Err }
