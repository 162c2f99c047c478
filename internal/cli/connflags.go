package cli

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/pflag"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
	"golang.org/x/term"

	"github.com/stratalog/strata/client"
)

// PasswordEnv is the environment variable the SASL password is read from;
// without it the password is prompted for on the terminal. It is never a
// flag, so that it stays out of shell histories and process listings.
const PasswordEnv = "STRATA_PASSWORD"

// connFlags are the connection options every command has: TLS and SASL.
type connFlags struct {
	tls           bool
	caFile        string
	certFile      string
	keyFile       string
	saslMechanism string
	user          string
}

func (c *connFlags) register(fs *pflag.FlagSet) {
	fs.BoolVar(&c.tls, "tls", false, "connect over TLS (implied by --ca-file and --cert-file)")
	fs.StringVar(&c.caFile, "ca-file", "", "PEM certificates of the authorities to trust for the brokers' certificate (default: the system's)")
	fs.StringVar(&c.certFile, "cert-file", "", "PEM client certificate, for brokers that require one (mTLS)")
	fs.StringVar(&c.keyFile, "key-file", "", "PEM private key of --cert-file")
	fs.StringVar(&c.saslMechanism, "sasl-mechanism", "", "SASL mechanism: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (the password from $"+PasswordEnv+" or a prompt)")
	fs.StringVar(&c.user, "user", "", "SASL user name (implies --sasl-mechanism SCRAM-SHA-512 when that is not given)")
}

// options turns the flags into SDK options; password returns the SASL
// password when one is needed.
func (c *connFlags) options(password func() (string, error)) ([]client.Option, error) {
	var opts []client.Option
	if (c.certFile == "") != (c.keyFile == "") {
		return nil, usagef("--cert-file and --key-file go together")
	}
	if c.tls || c.caFile != "" || c.certFile != "" {
		cfg := &tls.Config{MinVersion: tls.VersionTLS12}
		if c.caFile != "" {
			pem, err := os.ReadFile(c.caFile)
			if err != nil {
				return nil, fmt.Errorf("--ca-file: %w", err)
			}
			cfg.RootCAs = x509.NewCertPool()
			if !cfg.RootCAs.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("--ca-file %s: no PEM certificate in it", c.caFile)
			}
		}
		if c.certFile != "" {
			cert, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
			if err != nil {
				return nil, fmt.Errorf("--cert-file, --key-file: %w", err)
			}
			cfg.Certificates = []tls.Certificate{cert}
		}
		opts = append(opts, client.WithTLS(cfg))
	}
	mech := strings.ToUpper(c.saslMechanism)
	if mech == "" && c.user != "" {
		mech = "SCRAM-SHA-512"
	}
	if mech == "" {
		return opts, nil
	}
	if c.user == "" {
		return nil, usagef("--sasl-mechanism %s needs --user", mech)
	}
	var m sasl.Mechanism
	switch mech {
	case "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512":
	default:
		return nil, usagef("--sasl-mechanism %q: want PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512", c.saslMechanism)
	}
	pass, err := password()
	if err != nil {
		return nil, err
	}
	switch mech {
	case "PLAIN":
		m = plain.Auth{User: c.user, Pass: pass}.AsMechanism()
	case "SCRAM-SHA-256":
		m = scram.Auth{User: c.user, Pass: pass}.AsSha256Mechanism()
	case "SCRAM-SHA-512":
		m = scram.Auth{User: c.user, Pass: pass}.AsSha512Mechanism()
	}
	return append(opts, client.WithSASL(m)), nil
}

// password returns $STRATA_PASSWORD, or prompts for the password on the
// terminal without echoing it.
func (e *env) password() (string, error) {
	if p := e.getenv(PasswordEnv); p != "" {
		return p, nil
	}
	tty, err := os.OpenFile("/dev/tty", os.O_RDWR, 0)
	if err != nil {
		return "", fmt.Errorf("SASL needs a password: set %s, or run on a terminal to be asked for it", PasswordEnv)
	}
	defer tty.Close()
	fmt.Fprintf(tty, "Password for %s: ", e.conn.user)
	var b []byte
	if term.IsTerminal(int(tty.Fd())) {
		b, err = term.ReadPassword(int(tty.Fd()))
		fmt.Fprintln(tty)
	} else {
		b, err = bufio.NewReader(tty).ReadBytes('\n')
	}
	if err != nil && len(b) == 0 {
		return "", fmt.Errorf("read the password: %w", err)
	}
	p := strings.TrimRight(string(b), "\r\n")
	if p == "" {
		return "", errors.New("empty password")
	}
	return p, nil
}
