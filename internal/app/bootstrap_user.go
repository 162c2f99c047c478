package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"

	"github.com/stratalog/strata/internal/sasl"
	"github.com/stratalog/strata/metastore"
)

// BootstrapUserConfig is the first SCRAM user of a deployment that cannot
// run `strata users create` before its nodes start (a container platform
// that gives the node its secrets in the environment): each node creates
// the user at start when it has no credential for the mechanism, and
// never changes one that exists, so that a password changed later with
// `strata users create` or kafka-configs is not reset by a restart.
type BootstrapUserConfig struct {
	// User is the user's name; empty: no user is created.
	User string
	// Mechanism is the SCRAM mechanism of the credential.
	Mechanism string
	// Password is the user's password, meant to be set through the
	// environment (STRATA_AUTH_BOOTSTRAP_PASSWORD) or PasswordFile, never
	// on the command line (where it is redacted, but visible to ps).
	Password     string
	PasswordFile string
}

func (c *BootstrapUserConfig) registerFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.User, "auth.bootstrap-user", "", "SCRAM user created at start when it has no credential for -auth.bootstrap-mechanism (never changed once it exists); empty: none")
	fs.StringVar(&c.Mechanism, "auth.bootstrap-mechanism", "SCRAM-SHA-512", "mechanism of the bootstrap user's credential: SCRAM-SHA-256 or SCRAM-SHA-512")
	fs.StringVar(&c.Password, "auth.bootstrap-password", "", "password of the bootstrap user; set it with STRATA_AUTH_BOOTSTRAP_PASSWORD or -auth.bootstrap-password-file, not on the command line")
	fs.StringVar(&c.PasswordFile, "auth.bootstrap-password-file", "", "file holding the bootstrap user's password")
}

func (c *BootstrapUserConfig) validate() error {
	if c.User == "" {
		if c.Password != "" || c.PasswordFile != "" {
			return errors.New("auth.bootstrap-password is set without auth.bootstrap-user")
		}
		return nil
	}
	if !sasl.IsScram(c.Mechanism) {
		return fmt.Errorf("auth.bootstrap-mechanism %q: want SCRAM-SHA-256 or SCRAM-SHA-512", c.Mechanism)
	}
	if c.Password == "" {
		return errors.New("auth.bootstrap-user needs a password: STRATA_AUTH_BOOTSTRAP_PASSWORD or -auth.bootstrap-password-file")
	}
	return nil
}

// createBootstrapUser creates the bootstrap user's credential when it has
// none. Nodes starting at once may each create it; the last one stays,
// and each is the same password's.
func createBootstrapUser(ctx context.Context, c BootstrapUserConfig, store metastore.ScramStore, logger *slog.Logger) error {
	if c.User == "" {
		return nil
	}
	_, err := store.ScramCredential(ctx, c.User, c.Mechanism)
	switch {
	case err == nil:
		return nil
	case !errors.Is(err, metastore.ErrUnknownScramCredential):
		return fmt.Errorf("bootstrap user: %w", err)
	}
	cred, err := sasl.NewCredential(c.Mechanism, c.User, c.Password, sasl.DefaultIterations)
	if err != nil {
		return fmt.Errorf("bootstrap user: %w", err)
	}
	if err := store.UpsertScramCredential(ctx, cred); err != nil {
		return fmt.Errorf("bootstrap user: %w", err)
	}
	logger.Info("created the bootstrap SCRAM user", "component", "audit", "user", c.User, "mechanism", c.Mechanism)
	return nil
}
