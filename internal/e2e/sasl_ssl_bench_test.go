package e2e

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/stratalog/strata/internal/apptest"
	"github.com/stratalog/strata/internal/sasl"
	"github.com/stratalog/strata/internal/testenv/certs"
)

// BenchmarkProduceSASLSSL: produce throughput of one franz-go client over
// SASL_SSL (SCRAM-SHA-512, TLS 1.3) against plaintext, to the same
// strata dev node in the same run. Each op is one 1 KiB incompressible
// record; the figure to read is MB/s.
//
//	go test -run '^$' -bench ProduceSASLSSL -benchtime 200000x -count 3 ./internal/e2e/
func BenchmarkProduceSASLSSL(b *testing.B) {
	dir := b.TempDir()
	ca := certs.NewCA(b, dir, "bench-ca")
	server := ca.Server(b, dir, "localhost")
	n := apptest.Start(b, apptest.Dev,
		"-kafka.listeners", "PLAINTEXT://127.0.0.1:0,SASL_SSL://127.0.0.1:0",
		"-kafka.tls.cert-file", server.CertFile, "-kafka.tls.key-file", server.KeyFile,
		"-auth.super-users", "User:bench", "-auth.allow-everyone-if-no-acl-found=true", "-log.level", "warn")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cred, err := sasl.NewCredential(sasl.ScramSHA512, "bench", "bench-secret", 4096)
	if err != nil {
		b.Fatal(err)
	}
	if err := n.App.Store().UpsertScramCredential(ctx, cred); err != nil {
		b.Fatal(err)
	}
	secure := n.App.KafkaListenerAddr("SASL_SSL").String()
	value := make([]byte, 1024)
	if _, err := rand.Read(value); err != nil {
		b.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		opts []kgo.Opt
	}{
		{"plaintext", []kgo.Opt{kgo.SeedBrokers(n.KafkaAddr)}},
		{"sasl_ssl", []kgo.Opt{kgo.SeedBrokers(secure), kgo.DialTLSConfig(&tls.Config{RootCAs: ca.Pool(), ServerName: "localhost"}),
			kgo.SASL(scram.Auth{User: "bench", Pass: "bench-secret"}.AsSha512Mechanism())}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			topic := "bench-" + tc.name
			cl, err := kgo.NewClient(append(tc.opts, kgo.DefaultProduceTopic(topic), kgo.ProducerLinger(5*time.Millisecond))...)
			if err != nil {
				b.Fatal(err)
			}
			defer cl.Close()
			if _, err := kadm.NewClient(cl).CreateTopic(ctx, 16, 1, nil, topic); err != nil && ctx.Err() == nil {
				// Already there from an earlier -count round.
				if _, derr := kadm.NewClient(cl).DescribeTopicConfigs(ctx, topic); derr != nil {
					b.Fatal(err)
				}
			}
			errs := make(chan error, 1)
			b.SetBytes(int64(len(value)))
			b.ResetTimer()
			for range b.N {
				cl.Produce(ctx, &kgo.Record{Value: value}, func(_ *kgo.Record, err error) {
					if err != nil {
						select {
						case errs <- err:
						default:
						}
					}
				})
			}
			if err := cl.Flush(ctx); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			select {
			case err := <-errs:
				b.Fatal(err)
			default:
			}
			// Every record is in the log: the rate is of records stored.
			ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, topic)
			if err != nil {
				b.Fatal(err)
			}
			var stored int64
			ends.Each(func(o kadm.ListedOffset) { stored += o.Offset })
			if stored < int64(b.N) {
				b.Fatalf("%d records in the topic after %d produced", stored, b.N)
			}
		})
	}
}
