package client

import (
	"context"
	"fmt"
	"sort"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

// ErrUnknownUser is matched (errors.Is) by the error of an operation on a
// user or user credential that does not exist.
var ErrUnknownUser error = kerr.ResourceNotFound

// SCRAM mechanisms of user credentials.
const (
	ScramSHA256 = "SCRAM-SHA-256"
	ScramSHA512 = "SCRAM-SHA-512"
)

// UserCredential is one SCRAM credential of a user: its mechanism and
// iteration count. Brokers never tell the salt or the keys.
type UserCredential struct {
	Mechanism  string `json:"mechanism"`
	Iterations int32  `json:"iterations"`
}

// User is a user with SCRAM credentials.
type User struct {
	Name        string           `json:"name"`
	Credentials []UserCredential `json:"credentials"` // sorted by mechanism
}

func scramMechanism(name string) (kadm.ScramMechanism, error) {
	switch name {
	case ScramSHA256:
		return kadm.ScramSha256, nil
	case ScramSHA512:
		return kadm.ScramSha512, nil
	}
	return 0, fmt.Errorf("unknown SCRAM mechanism %q: want %s or %s", name, ScramSHA256, ScramSHA512)
}

// ListUsers lists the users with SCRAM credentials, sorted by name; with
// names, only those users, failing with ErrUnknownUser for one without a
// credential.
func (a *Admin) ListUsers(ctx context.Context, names ...string) ([]User, error) {
	described, err := a.c.adm.DescribeUserSCRAMs(ctx, names...)
	if err != nil {
		return nil, a.c.wrap("describe users", "", err)
	}
	var out []User
	for _, d := range described {
		if d.Err != nil {
			return nil, a.c.wrap("describe user", d.User, withMessage(d.Err, d.ErrMessage))
		}
		u := User{Name: d.User}
		for _, ci := range d.CredInfos {
			u.Credentials = append(u.Credentials, UserCredential{Mechanism: ci.Mechanism.String(), Iterations: ci.Iterations})
		}
		sort.Slice(u.Credentials, func(i, j int) bool { return u.Credentials[i].Mechanism < u.Credentials[j].Mechanism })
		out = append(out, u)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// SetUserPassword creates or replaces the user's credential for a SCRAM
// mechanism. The password is salted and hashed here: the broker receives
// the salt and the salted password, never the password. iterations 0
// means 4096, the least brokers accept (at most 16384).
func (a *Admin) SetUserPassword(ctx context.Context, user, mechanism, password string, iterations int32) error {
	const op = "set user password"
	m, err := scramMechanism(mechanism)
	if err != nil {
		return a.c.wrap(op, user, err)
	}
	if password == "" {
		return a.c.wrap(op, user, fmt.Errorf("empty password"))
	}
	res, err := a.c.adm.AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{{User: user, Mechanism: m, Iterations: iterations, Password: password}})
	if err != nil {
		// kadm's own checks name the user and the iterations, never the
		// password.
		return a.c.wrap(op, user, err)
	}
	for _, r := range res {
		if r.Err != nil {
			return a.c.wrap(op, user, withMessage(r.Err, r.ErrMessage))
		}
	}
	return nil
}

// DeleteUser deletes the user's credentials for the given mechanisms, or
// all of them when none is given. It fails with ErrUnknownUser when the
// user has no credential (for a given mechanism).
func (a *Admin) DeleteUser(ctx context.Context, user string, mechanisms ...string) error {
	const op = "delete user"
	if len(mechanisms) == 0 {
		users, err := a.ListUsers(ctx, user)
		if err != nil {
			return err
		}
		for _, u := range users {
			for _, c := range u.Credentials {
				mechanisms = append(mechanisms, c.Mechanism)
			}
		}
	}
	var del []kadm.DeleteSCRAM
	for _, name := range mechanisms {
		m, err := scramMechanism(name)
		if err != nil {
			return a.c.wrap(op, user, err)
		}
		del = append(del, kadm.DeleteSCRAM{User: user, Mechanism: m})
	}
	res, err := a.c.adm.AlterUserSCRAMs(ctx, del, nil)
	if err != nil {
		return a.c.wrap(op, user, err)
	}
	for _, r := range res {
		if r.Err != nil {
			return a.c.wrap(op, user, withMessage(r.Err, r.ErrMessage))
		}
	}
	return nil
}
