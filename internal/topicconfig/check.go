package topicconfig

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// The kinds of Error. The front door answers ErrUnknown and ErrInvalid
// with INVALID_CONFIG and ErrNull with INVALID_REQUEST, as Kafka does.
var (
	ErrUnknown = errors.New("unknown topic config")
	ErrNull    = errors.New("null topic config value")
	ErrInvalid = errors.New("invalid topic config value")
)

// Error is a topic config that Check refused.
type Error struct {
	// Kind is ErrUnknown, ErrNull or ErrInvalid.
	Kind  error
	Name  string
	Value string
	// Reason says why an invalid value is refused.
	Reason error
}

func (e *Error) Error() string {
	switch e.Kind {
	case ErrUnknown:
		return fmt.Sprintf("unknown topic config %q", e.Name)
	case ErrNull:
		return fmt.Sprintf("null value for topic config %q", e.Name)
	default:
		return fmt.Sprintf("invalid value %q for topic config %q: %v", e.Value, e.Name, e.Reason)
	}
}

// Unwrap returns the kind, so that errors.Is(err, ErrInvalid) holds.
func (e *Error) Unwrap() error { return e.Kind }

// Check validates one topic config as a client sets it: the name must be
// known and the value present and valid. The error is an *Error.
func Check(name string, value *string) error {
	def, ok := index[name]
	if !ok {
		return &Error{Kind: ErrUnknown, Name: name}
	}
	if value == nil {
		return &Error{Kind: ErrNull, Name: name}
	}
	return def.checkValue(*value)
}

func (d *Def) checkValue(v string) error {
	if err := d.check(v); err != nil {
		return &Error{Kind: ErrInvalid, Name: d.Name, Value: v, Reason: err}
	}
	return nil
}

// SplitList splits a list config's value on commas, trimming blanks and
// dropping empty items.
func SplitList(v string) []string {
	var out []string
	for it := range strings.SplitSeq(v, ",") {
		if it = strings.TrimSpace(it); it != "" {
			out = append(out, it)
		}
	}
	return out
}

// Value validators.

func anyValue(string) error { return nil }

func boolean(v string) error {
	_, err := parseBool(v)
	return err
}

// parseBool accepts true and false in any case, as Kafka does.
func parseBool(v string) (bool, error) {
	switch strings.ToLower(v) {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, errors.New("not a boolean")
}

func oneOf(allowed ...string) func(string) error {
	return func(v string) error {
		if slices.Contains(allowed, v) {
			return nil
		}
		return fmt.Errorf("not one of %s", strings.Join(allowed, ", "))
	}
}

func listOf(allowed ...string) func(string) error {
	return func(v string) error {
		items := SplitList(v)
		if len(items) == 0 {
			return errors.New("empty list")
		}
		for _, it := range items {
			if !slices.Contains(allowed, it) {
				return fmt.Errorf("%q is not one of %s", it, strings.Join(allowed, ", "))
			}
		}
		return nil
	}
}

func longAtLeast(lo int64) func(string) error {
	return func(v string) error {
		_, err := parseLong(v, lo)
		return err
	}
}

func parseLong(v string, lo int64) (int64, error) {
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil {
		return 0, errors.New("not a long")
	}
	if n < lo {
		return 0, fmt.Errorf("below %d", lo)
	}
	return n, nil
}

func intAtLeast(lo int64) func(string) error { return intIn(lo, maxInt) }

// intIn accepts an int in [lo, hi] other than the except values.
func intIn(lo, hi int64, except ...int64) func(string) error {
	return func(v string) error {
		_, err := parseInt(v, lo, hi, except...)
		return err
	}
}

func parseInt(v string, lo, hi int64, except ...int64) (int, error) {
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 32)
	if err != nil {
		return 0, errors.New("not an int")
	}
	if slices.Contains(except, n) {
		return 0, fmt.Errorf("%d not allowed", n)
	}
	if n < lo || n > hi {
		return 0, fmt.Errorf("not in [%d, %d]", lo, hi)
	}
	return int(n), nil
}

func doubleIn(lo, hi float64) func(string) error {
	return func(v string) error {
		_, err := parseDouble(v, lo, hi)
		return err
	}
}

func parseDouble(v string, lo, hi float64) (float64, error) {
	f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
	if err != nil || math.IsNaN(f) {
		return 0, errors.New("not a double")
	}
	if f < lo || f > hi {
		return 0, fmt.Errorf("not in [%g, %g]", lo, hi)
	}
	return f, nil
}
