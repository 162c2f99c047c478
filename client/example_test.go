package client_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/stratalog/strata/client"
)

// The examples run as tests against the strata dev that TestMain starts;
// they find it through $STRATA_BROKERS like any program using the SDK.

func ExampleNew() {
	ctx := context.Background()
	// Without WithBrokers, New reads $STRATA_BROKERS, else uses
	// 127.0.0.1:9092, where `strata dev` listens.
	brokers := os.Getenv("STRATA_BROKERS")
	if brokers == "" {
		brokers = "127.0.0.1:9092"
	}
	c, err := client.New(ctx,
		client.WithBrokers(strings.Split(brokers, ",")...),
		client.WithClientID("billing"),
		client.WithZone("eu-west-1a"),
	)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	cluster, err := c.Admin().Cluster(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("brokers:", len(cluster.Brokers))
	// Output: brokers: 1
}

func ExampleNew_unreachable() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := client.New(ctx, client.WithBrokers("127.0.0.1:1"))
	fmt.Println(errors.Is(err, client.ErrBrokerUnreachable))
	// Output: true
}

func ExampleClient_Produce() {
	ctx := context.Background()
	c, err := client.New(ctx)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	// Start from an empty topic with one partition.
	_ = c.Admin().DeleteTopic(ctx, "signups")
	if _, err := c.Admin().CreateTopic(ctx, "signups", 1, nil); err != nil {
		log.Fatal(err)
	}

	// Produce returns once the record is in object storage and its offset
	// is committed.
	for _, user := range []string{"ada", "grace"} {
		off, err := c.Produce(ctx, "signups", []byte(user), []byte("signed up"),
			client.WithHeaders(client.Header{Key: "source", Value: []byte("web")}))
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%s: partition %d, offset %d\n", user, off.Partition, off.Offset)
	}
	// Output:
	// ada: partition 0, offset 0
	// grace: partition 0, offset 1
}

func ExampleClient_ProduceAsync() {
	ctx := context.Background()
	c, err := client.New(ctx)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	_ = c.Admin().DeleteTopic(ctx, "clicks")
	if _, err := c.Admin().CreateTopic(ctx, "clicks", 3, nil); err != nil {
		log.Fatal(err)
	}

	// ProduceAsync returns at once; the callbacks run as acknowledgements
	// arrive, in offset order within a partition.
	var (
		mu      sync.Mutex
		offsets []int64
	)
	for i := range 100 {
		c.ProduceAsync(ctx, "clicks", nil, fmt.Appendf(nil, "click %d", i), func(off client.Offset, err error) {
			if err != nil {
				log.Print(err)
				return
			}
			if off.Partition == 2 {
				mu.Lock()
				offsets = append(offsets, off.Offset)
				mu.Unlock()
			}
		}, client.WithPartition(2))
	}
	if err := c.Flush(ctx); err != nil {
		log.Fatal(err)
	}
	fmt.Println("acknowledged:", len(offsets), "first:", offsets[0], "last:", offsets[len(offsets)-1])
	// Output: acknowledged: 100 first: 0 last: 99
}

// Order is the value type of the typed examples.
type Order struct {
	ID     string    `json:"id"`
	Amount float64   `json:"amount"`
	At     time.Time `json:"at"`
}

func ExampleNewProducer() {
	ctx := context.Background()
	c, err := client.New(ctx)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	_ = c.Admin().DeleteTopic(ctx, "orders")
	if _, err := c.Admin().CreateTopic(ctx, "orders", 1, nil); err != nil {
		log.Fatal(err)
	}

	// Keys are strings, values JSON; the types come from the serdes.
	orders := client.NewProducer(c, "orders", client.String{}, client.JSON[Order]{})
	off, err := orders.Produce(ctx, "customer-7", Order{ID: "o-1", Amount: 9.5, At: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("offset", off.Offset)

	// Free-form JSON objects and timestamps are one line each too.
	_ = client.NewProducer(c, "events", client.NoKey{}, client.JSON[map[string]any]{})
	_ = client.NewProducer(c, "heartbeats", client.String{}, client.Time{})
	// Output: offset 0
}

func ExampleConsumer() {
	ctx := context.Background()
	c, err := client.New(ctx)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	_ = c.Admin().DeleteGroup(ctx, "invoicing")
	_ = c.Admin().DeleteTopic(ctx, "payments")
	if _, err := c.Admin().CreateTopic(ctx, "payments", 1, nil); err != nil {
		log.Fatal(err)
	}
	payments := client.NewProducer(c, "payments", client.String{}, client.JSON[Order]{})
	for i, amount := range []float64{10, 20.5, 7} {
		if _, err := payments.Produce(ctx, "customer-1", Order{ID: fmt.Sprint("p-", i), Amount: amount}); err != nil {
			log.Fatal(err)
		}
	}

	// A group consumer: each record's offset is committed only after the
	// handler returned nil for it. Cancelling ctx would stop Run after
	// committing what was handled; here the handler stops it with ErrStop.
	consumer, err := client.NewConsumer(ctx, c, "invoicing", []string{"payments"}, client.String{}, client.JSON[Order]{})
	if err != nil {
		log.Fatal(err)
	}
	var total float64
	err = consumer.Run(ctx, func(ctx context.Context, m client.Message[string, Order]) error {
		total += m.Value.Amount
		fmt.Printf("%s %s %.2f (offset %d)\n", m.Key, m.Value.ID, m.Value.Amount, m.Offset)
		if m.Offset == 2 {
			return client.ErrStop
		}
		return nil
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("total %.2f\n", total)

	group, err := c.Admin().DescribeGroup(ctx, "invoicing")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("committed:", group.Offsets[0].Committed, "lag:", group.TotalLag)
	// Output:
	// customer-1 p-0 10.00 (offset 0)
	// customer-1 p-1 20.50 (offset 1)
	// customer-1 p-2 7.00 (offset 2)
	// total 37.50
	// committed: 3 lag: 0
}

func ExampleConsumer_Seek() {
	ctx := context.Background()
	c, err := client.New(ctx)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	_ = c.Admin().DeleteTopic(ctx, "audit")
	if _, err := c.Admin().CreateTopic(ctx, "audit", 1, nil); err != nil {
		log.Fatal(err)
	}
	for _, v := range []string{"a", "b", "c", "d", "e"} {
		if _, err := c.Produce(ctx, "audit", nil, []byte(v)); err != nil {
			log.Fatal(err)
		}
	}

	// Without a group, a consumer assigns itself the partitions and can
	// seek: to Beginning(), End(), AtOffset(n) or AtTime(t).
	consumer, err := client.NewConsumer(ctx, c, "", []string{"audit"}, client.Bytes{}, client.String{})
	if err != nil {
		log.Fatal(err)
	}
	if err := consumer.Seek(ctx, "audit", 0, client.AtOffset(3)); err != nil {
		log.Fatal(err)
	}
	err = consumer.Run(ctx, func(ctx context.Context, m client.Message[[]byte, string]) error {
		fmt.Println(m.Offset, m.Value)
		if m.Offset == 4 {
			return client.ErrStop
		}
		return nil
	})
	if err != nil {
		log.Fatal(err)
	}
	// Output:
	// 3 d
	// 4 e
}

func ExampleAdmin_DescribeTopic() {
	ctx := context.Background()
	c, err := client.New(ctx)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	admin := c.Admin()
	_ = admin.DeleteTopic(ctx, "metrics")
	if _, err := admin.CreateTopic(ctx, "metrics", 2, map[string]string{"retention.ms": "3600000"}); err != nil {
		log.Fatal(err)
	}
	for i := range 3 {
		if _, err := c.Produce(ctx, "metrics", nil, []byte("m"), client.WithPartition(int32(i%2))); err != nil {
			log.Fatal(err)
		}
	}

	topic, err := admin.DescribeTopic(ctx, "metrics")
	if err != nil {
		log.Fatal(err)
	}
	for _, p := range topic.Partitions {
		fmt.Printf("partition %d: offsets [%d, %d), %d records\n", p.Partition, p.LogStartOffset, p.HighWatermark, p.Records())
	}
	for _, cfg := range topic.Configs {
		if cfg.Source == "topic" {
			fmt.Printf("%s=%s\n", cfg.Name, cfg.Value)
		}
	}
	// Output:
	// partition 0: offsets [0, 2), 2 records
	// partition 1: offsets [0, 1), 1 records
	// retention.ms=3600000
}

func ExampleJSON() {
	// Serdes for the usual formats are one line each.
	dicts := client.JSON[map[string]any]{}
	times := client.Time{}

	b, _ := dicts.Encode(map[string]any{"user": "ada", "visits": 3})
	fmt.Println(string(b))
	m, _ := dicts.Decode(b)
	fmt.Println(m["user"], m["visits"])

	b, _ = times.Encode(time.Date(2025, 3, 1, 12, 30, 0, 0, time.UTC))
	fmt.Println(string(b))
	// Output:
	// {"user":"ada","visits":3}
	// ada 3
	// 2025-03-01T12:30:00Z
}

func ExampleFuncs() {
	// A custom format from two functions: upper-case text.
	upper := client.Funcs[string]{
		EncodeFunc: func(s string) ([]byte, error) { return []byte(strings.ToUpper(s)), nil },
		DecodeFunc: func(b []byte) (string, error) { return string(b), nil },
	}
	b, _ := upper.Encode("hello")
	fmt.Println(string(b))
	// Output: HELLO
}
