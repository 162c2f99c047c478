package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/term"

	"github.com/stratalog/strata/client"
	"github.com/stratalog/strata/internal/sasl"
	"github.com/stratalog/strata/metastore"
	"github.com/stratalog/strata/metastore/postgres"
	"github.com/stratalog/strata/metastore/sqlite"
)

// MetastoreURLEnv names the metastore `strata users` writes to directly,
// without a running cluster, when --metastore-url is not given.
const MetastoreURLEnv = "STRATA_METASTORE_URL"

// The users commands manage SCRAM credentials: through the cluster with
// DescribeUserScramCredentials and AlterUserScramCredentials, or, with
// --metastore-url, straight in a metastore, for the first user of a
// cluster that will only let authenticated clients in. Passwords come
// from stdin or a prompt, never from the command line, and only the salt,
// iteration count and derived keys are stored.

// userFlags adds --metastore-url.
func (e *env) userFlags(name, synopsis string) (*pflag.FlagSet, *string) {
	fs := e.flags(name, synopsis)
	url := fs.String("metastore-url", e.getenv(MetastoreURLEnv), "write to this metastore instead of the cluster: postgres://... or sqlite:PATH ($"+MetastoreURLEnv+")")
	return fs, url
}

func checkMechanism(m string) error {
	if !sasl.IsScram(m) {
		return usagef("--mechanism %q: want %s or %s", m, sasl.ScramSHA256, sasl.ScramSHA512)
	}
	return nil
}

func (e *env) usersCreate() *cobra.Command {
	fs, url := e.userFlags("users create", "users create NAME [--mechanism SCRAM-SHA-512] [--iterations N] [--password-stdin] [--metastore-url URL]")
	mech := fs.String("mechanism", sasl.ScramSHA512, "SCRAM mechanism: SCRAM-SHA-256 or SCRAM-SHA-512")
	iterations := fs.Int("iterations", sasl.DefaultIterations, fmt.Sprintf("PBKDF2 iterations, %d to %d", sasl.MinIterations, sasl.MaxIterations))
	fromStdin := fs.Bool("password-stdin", false, "read the password from the first line of stdin")
	return e.leaf(fs, []string{"NAME"}, func(pos []string) error {
		user := pos[0]
		if user == "" {
			return usagef("the user name must not be empty")
		}
		if err := checkMechanism(*mech); err != nil {
			return err
		}
		if *iterations < sasl.MinIterations || *iterations > sasl.MaxIterations {
			return usagef("--iterations %d: want %d to %d", *iterations, sasl.MinIterations, sasl.MaxIterations)
		}
		password, err := e.readPassword(*fromStdin)
		if err != nil {
			return err
		}
		if *url != "" {
			store, done, err := e.openMetastore(*url)
			if err != nil {
				return err
			}
			defer done()
			cred, err := sasl.NewCredential(*mech, user, password, *iterations)
			if err != nil {
				return err
			}
			ctx, cancel := e.reqCtx()
			defer cancel()
			if err := store.UpsertScramCredential(ctx, cred); err != nil {
				return err
			}
		} else {
			c, err := e.connect()
			if err != nil {
				return err
			}
			defer c.Close()
			ctx, cancel := e.reqCtx()
			defer cancel()
			if err := c.Admin().SetUserPassword(ctx, user, *mech, password, int32(*iterations)); err != nil {
				return err
			}
		}
		if e.output == "json" {
			return e.printJSON(map[string]any{"user": user, "mechanism": *mech, "iterations": *iterations})
		}
		fmt.Fprintf(e.stdout, "Set the %s credential of user %q.\n", *mech, user)
		return nil
	})
}

func (e *env) usersList() *cobra.Command {
	fs, url := e.userFlags("users list", "users list [--metastore-url URL]")
	return e.leaf(fs, nil, func([]string) error {
		var users []client.User
		if *url != "" {
			store, done, err := e.openMetastore(*url)
			if err != nil {
				return err
			}
			defer done()
			ctx, cancel := e.reqCtx()
			defer cancel()
			creds, err := store.ScramCredentials(ctx, nil)
			if err != nil {
				return err
			}
			for _, c := range creds {
				if len(users) == 0 || users[len(users)-1].Name != c.User {
					users = append(users, client.User{Name: c.User})
				}
				u := &users[len(users)-1]
				u.Credentials = append(u.Credentials, client.UserCredential{Mechanism: c.Mechanism, Iterations: c.Iterations})
			}
		} else {
			c, err := e.connect()
			if err != nil {
				return err
			}
			defer c.Close()
			ctx, cancel := e.reqCtx()
			defer cancel()
			if users, err = c.Admin().ListUsers(ctx); err != nil {
				return err
			}
		}
		if e.output == "json" {
			if users == nil {
				users = []client.User{}
			}
			return e.printJSON(users)
		}
		var rows [][]string
		for _, u := range users {
			for _, c := range u.Credentials {
				rows = append(rows, []string{u.Name, c.Mechanism, fmt.Sprint(c.Iterations)})
			}
		}
		e.table([]string{"USER", "MECHANISM", "ITERATIONS"}, rows)
		return nil
	})
}

func (e *env) usersDelete() *cobra.Command {
	fs, url := e.userFlags("users delete", "users delete NAME [--mechanism M] [--metastore-url URL]")
	mech := fs.String("mechanism", "", "delete only this mechanism's credential (default: every credential of the user)")
	return e.leaf(fs, []string{"NAME"}, func(pos []string) error {
		user := pos[0]
		if *mech != "" {
			if err := checkMechanism(*mech); err != nil {
				return err
			}
		}
		if *url != "" {
			store, done, err := e.openMetastore(*url)
			if err != nil {
				return err
			}
			defer done()
			ctx, cancel := e.reqCtx()
			defer cancel()
			mechs := []string{*mech}
			if *mech == "" {
				mechs = nil
				creds, err := store.ScramCredentials(ctx, []string{user})
				if err != nil {
					return err
				}
				for _, c := range creds {
					mechs = append(mechs, c.Mechanism)
				}
				if len(mechs) == 0 {
					return fmt.Errorf("user %q has no credential", user)
				}
			}
			for _, m := range mechs {
				if err := store.DeleteScramCredential(ctx, user, m); errors.Is(err, metastore.ErrUnknownScramCredential) {
					return fmt.Errorf("user %q has no %s credential", user, m)
				} else if err != nil {
					return err
				}
			}
		} else {
			c, err := e.connect()
			if err != nil {
				return err
			}
			defer c.Close()
			ctx, cancel := e.reqCtx()
			defer cancel()
			var mechs []string
			if *mech != "" {
				mechs = []string{*mech}
			}
			if err := c.Admin().DeleteUser(ctx, user, mechs...); err != nil {
				return err
			}
		}
		if e.output == "json" {
			return e.printJSON(map[string]any{"user": user, "deleted": true})
		}
		what := "every credential"
		if *mech != "" {
			what = "the " + *mech + " credential"
		}
		fmt.Fprintf(e.stdout, "Deleted %s of user %q.\n", what, user)
		return nil
	})
}

// readPassword reads the password from stdin's first line with
// --password-stdin, or asks for it twice when stdin is a terminal.
func (e *env) readPassword(fromStdin bool) (string, error) {
	if fromStdin {
		line, err := bufio.NewReader(e.stdin).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return "", fmt.Errorf("reading the password from stdin: %w", err)
		}
		p := strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
		if p == "" {
			return "", usagef("the password on stdin is empty")
		}
		return p, nil
	}
	f, ok := e.stdin.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return "", usagef("give the password on stdin with --password-stdin (stdin is not a terminal to prompt on)")
	}
	ask := func(prompt string) (string, error) {
		fmt.Fprint(e.stderr, prompt)
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(e.stderr)
		return string(b), err
	}
	p, err := ask("Password: ")
	if err != nil {
		return "", err
	}
	if p == "" {
		return "", usagef("empty password")
	}
	again, err := ask("Password again: ")
	if err != nil {
		return "", err
	}
	if again != p {
		return "", errors.New("the passwords differ")
	}
	return p, nil
}

// openMetastore opens the metastore at url (postgres://..., postgresql://...
// or sqlite:PATH), applying its migrations as a node does at start-up.
// Errors never repeat the URL, which may hold a password.
func (e *env) openMetastore(url string) (metastore.ScramStore, func(), error) {
	ctx, cancel := context.WithTimeout(e.ctx, e.timeout)
	defer cancel()
	switch {
	case strings.HasPrefix(url, "postgres://"), strings.HasPrefix(url, "postgresql://"):
		cfg := postgres.Config{URL: url, MaxConns: 2}
		s, err := postgres.New(ctx, cfg, nil, prometheus.NewRegistry())
		if err != nil {
			return nil, nil, fmt.Errorf("opening the PostgreSQL metastore: %w", err)
		}
		return s, s.Close, nil
	case strings.HasPrefix(url, "sqlite:"):
		path := strings.TrimPrefix(strings.TrimPrefix(url, "sqlite:"), "//")
		if path == "" {
			return nil, nil, usagef("--metastore-url sqlite: needs a path, as sqlite:strata-data/meta.db")
		}
		s, err := sqlite.New(ctx, sqlite.Config{Path: path}, nil, prometheus.NewRegistry())
		if err != nil {
			return nil, nil, fmt.Errorf("opening the SQLite metastore %s: %w", path, err)
		}
		return s, s.Close, nil
	}
	return nil, nil, usagef("--metastore-url: want postgres://... or sqlite:PATH")
}
