package cli

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/stratalog/strata/client"
)

// TestQuotasAlterDescribe sets, lists and removes client quotas as a user
// would, for entities no client of the shared strata dev uses.
func TestQuotasAlterDescribe(t *testing.T) {
	run := func(args ...string) string {
		t.Helper()
		out, errOut, code := runCLI(t, "", args...)
		if code != 0 {
			t.Fatalf("strata %s: exit %d: %s%s", strings.Join(args, " "), code, out, errOut)
		}
		return out
	}
	run("quotas", "alter", "--for-user", "quota-cli-user", "--set", "producer_byte_rate=1048576", "--set", "request_percentage=12.5")
	run("quotas", "alter", "--for-user", "quota-cli-user", "--default-client-id", "--set", "consumer_byte_rate=2000000")

	out := run("quotas", "describe", "--for-user", "quota-cli-user")
	for _, want := range []string{
		"USER", "CLIENT-ID",
		"quota-cli-user  -          producer_byte_rate  1048576",
		"quota-cli-user  -          request_percentage  12.5",
		"quota-cli-user  <default>  consumer_byte_rate  2000000",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("describe output lacks %q:\n%s", want, out)
		}
	}

	out = run("quotas", "describe", "--for-user", "quota-cli-user", "--strict", "--output", "json")
	var qs []client.ClientQuota
	if err := json.Unmarshal([]byte(out), &qs); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	want := []client.ClientQuota{{
		Entity: client.QuotaEntity{User: &client.QuotaPart{Name: "quota-cli-user"}},
		Values: map[string]float64{"producer_byte_rate": 1048576, "request_percentage": 12.5},
	}}
	if !reflect.DeepEqual(qs, want) {
		t.Errorf("strict describe: %s", out)
	}

	run("quotas", "alter", "--for-user", "quota-cli-user", "--remove", "producer_byte_rate", "--remove", "request_percentage")
	run("quotas", "alter", "--for-user", "quota-cli-user", "--default-client-id", "--remove", "consumer_byte_rate")
	if out := run("quotas", "describe", "--for-user", "quota-cli-user"); !strings.Contains(out, "No client quotas.") {
		t.Errorf("after removing every quota: %s", out)
	}

	// Mistakes: bad usage (2), or the broker's refusal with its reason (1).
	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"quotas", "alter", "--set", "producer_byte_rate=1"}, 2, "no entity"},
		{[]string{"quotas", "alter", "--for-user", "u"}, 2, "nothing to alter"},
		{[]string{"quotas", "alter", "--for-user", "u", "--default-user", "--set", "producer_byte_rate=1"}, 2, "give one"},
		{[]string{"quotas", "alter", "--for-user", "u", "--set", "producer_byte_rate=fast"}, 2, "want a number"},
		{[]string{"quotas", "alter", "--for-user", "u", "--set", "producer_byte_rate=1.5"}, 1, "whole number"},
		{[]string{"quotas", "alter", "--for-user", "u", "--set", "bogus=1"}, 1, "unknown quota key"},
		{[]string{"quotas", "frobnicate"}, 2, "unknown subcommand"},
	} {
		out, errOut, code := runCLI(t, "", tc.args...)
		if code != tc.code || !strings.Contains(errOut, tc.msg) {
			t.Errorf("strata %s: exit %d, %q%q; want exit %d and %q", strings.Join(tc.args, " "), code, out, errOut, tc.code, tc.msg)
		}
	}
}
