package console

import (
	"errors"
	"flag"
	"fmt"
)

// ClientConfig is how the console's own Kafka client connects to its
// node: which listener, and the credentials it authenticates with there.
// On a node whose listeners all authenticate, the console is a client
// like any other: it needs a user, and ACLs for what it shows (Describe
// on the cluster, topics and groups; Read to browse messages) and for
// what it changes when not read-only.
type ClientConfig struct {
	// Listener names the Kafka listener to connect to; empty: the
	// first of -kafka.listeners.
	Listener string
	// SASLMechanism, User and Password authenticate on a SASL
	// listener: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512. Password is meant
	// for the environment (STRATA_CONSOLE_PASSWORD) or PasswordFile.
	SASLMechanism string
	User          string
	Password      string
	PasswordFile  string
	// CAFile holds the PEM authorities the console trusts for a TLS
	// listener's certificate; empty: the system's.
	CAFile string
}

func (c *ClientConfig) registerFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Listener, "console.kafka-listener", "", "Kafka listener the console's client connects to (default: the first)")
	fs.StringVar(&c.SASLMechanism, "console.sasl-mechanism", "SCRAM-SHA-512", "SASL mechanism of the console's client on a SASL listener: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512")
	fs.StringVar(&c.User, "console.user", "", "user the console's client authenticates as on a SASL listener")
	fs.StringVar(&c.Password, "console.password", "", "password of -console.user; set it with STRATA_CONSOLE_PASSWORD or -console.password-file, not on the command line")
	fs.StringVar(&c.PasswordFile, "console.password-file", "", "file holding the password of -console.user")
	fs.StringVar(&c.CAFile, "console.tls.ca-file", "", "PEM authorities the console's client trusts on a TLS listener (default: the system's)")
}

func (c *ClientConfig) validate() error {
	switch c.SASLMechanism {
	case "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512":
	default:
		return fmt.Errorf("console.sasl-mechanism %q: want PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512", c.SASLMechanism)
	}
	if c.User == "" && (c.Password != "" || c.PasswordFile != "") {
		return errors.New("console.password is set without console.user")
	}
	if c.User != "" && c.Password == "" && c.PasswordFile == "" {
		return errors.New("console.user needs a password: STRATA_CONSOLE_PASSWORD or -console.password-file")
	}
	return nil
}
