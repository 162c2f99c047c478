package app

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/stratalog/strata/client"
	"github.com/stratalog/strata/internal/console"
)

// consoleKafka is how the console's Kafka client reaches this node: the
// address it dials first and the options of its SDK and franz-go clients.
// It connects as any client would, on the listener -console.kafka-listener
// names (the first by default), with TLS when that listener has it and
// the console's credentials when it authenticates with SASL. Over TLS it
// dials the listener's advertised address, the name its certificate is
// for; otherwise the address the listener is bound to.
func (a *App) consoleKafka(cc console.ClientConfig, logger *slog.Logger) (func() string, []client.Option, []kgo.Opt, error) {
	i := 0
	if cc.Listener != "" {
		i = -1
		for j, l := range a.listeners {
			if l.Name == cc.Listener {
				i = j
			}
		}
		if i < 0 {
			return nil, nil, nil, fmt.Errorf("console.kafka-listener: no Kafka listener is named %q", cc.Listener)
		}
	}
	l, ln := a.listeners[i], a.kafkaLns[i]
	seed := func() string { return ln.Addr().String() }
	var copts []client.Option
	var kopts []kgo.Opt
	if l.TLS() {
		tc := &tls.Config{MinVersion: tls.VersionTLS12}
		if cc.CAFile != "" {
			pem, err := os.ReadFile(cc.CAFile)
			if err != nil {
				return nil, nil, nil, fmt.Errorf("console.tls.ca-file: %w", err)
			}
			tc.RootCAs = x509.NewCertPool()
			if !tc.RootCAs.AppendCertsFromPEM(pem) {
				return nil, nil, nil, fmt.Errorf("console.tls.ca-file: %s holds no PEM certificate", cc.CAFile)
			}
		}
		advertised := l.Advertised
		seed = func() string { return advertised }
		copts = append(copts, client.WithTLS(tc))
		kopts = append(kopts, kgo.DialTLSConfig(tc))
	}
	if l.SASL() {
		if cc.User == "" {
			// Not fatal: the node serves Kafka all the same, and the
			// console's pages say why they cannot reach it.
			logger.Warn("the console has no credentials for its Kafka listener, which requires SASL: set -console.user and its password",
				"component", "console", "listener", l.Name)
		} else {
			m, err := consoleMechanism(cc)
			if err != nil {
				return nil, nil, nil, err
			}
			copts = append(copts, client.WithSASL(m))
			kopts = append(kopts, kgo.SASL(m))
		}
	}
	return seed, copts, kopts, nil
}

func consoleMechanism(cc console.ClientConfig) (sasl.Mechanism, error) {
	switch cc.SASLMechanism {
	case "PLAIN":
		return plain.Auth{User: cc.User, Pass: cc.Password}.AsMechanism(), nil
	case "SCRAM-SHA-256":
		return scram.Auth{User: cc.User, Pass: cc.Password}.AsSha256Mechanism(), nil
	case "SCRAM-SHA-512":
		return scram.Auth{User: cc.User, Pass: cc.Password}.AsSha512Mechanism(), nil
	}
	return nil, errors.New("console.sasl-mechanism: want PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512")
}
