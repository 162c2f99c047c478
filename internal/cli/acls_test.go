package cli

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stratalog/strata/client"
)

// TestACLsCreateListDelete: ACLs created with strata acls are listed,
// enforced (the CLI's own unauthenticated principal loses the topic once
// an ACL names it, as with -auth.allow-everyone-if-no-acl-found) and
// deleted.
func TestACLsCreateListDelete(t *testing.T) {
	topic := newTopic(t, 1)
	if _, errOut, code := runCLI(t, "before\n", "produce", topic); code != 0 {
		t.Fatalf("produce before any ACL: %d %s", code, errOut)
	}
	out, errOut, code := runCLI(t, "", "acls", "create", "--topic", topic, "--allow", "User:bob", "--operation", "read,write")
	if code != 0 || !strings.Contains(out, "Created 2 ACL(s).") {
		t.Fatalf("acls create: %d %q %s", code, out, errOut)
	}
	out, errOut, code = runCLI(t, "", "acls", "list", "--topic", topic, "--output", "json")
	if code != 0 {
		t.Fatalf("acls list: %d %s", code, errOut)
	}
	var listed []client.ACL
	if err := json.Unmarshal([]byte(out), &listed); err != nil {
		t.Fatalf("acls list --output json: %v\n%s", err, out)
	}
	ops := map[string]bool{}
	for _, a := range listed {
		if a.Principal != "User:bob" || a.ResourceName != topic || a.PatternType != "literal" || a.Host != "*" || a.Permission != "allow" {
			t.Errorf("listed %+v", a)
		}
		ops[a.Operation] = true
	}
	if len(listed) != 2 || !ops["read"] || !ops["write"] {
		t.Errorf("listed %+v, want bob's read and write", listed)
	}
	out, _, _ = runCLI(t, "", "acls", "list", "--topic", topic+"-and-more", "--pattern", "match")
	if !strings.Contains(out, "No ACLs.") {
		t.Errorf("a literal ACL matched a longer name:\n%s", out)
	}

	// Now an ACL names the topic, and not for the CLI's principal.
	if _, errOut, code := runCLI(t, "denied\n", "produce", topic, "--timeout", "5s"); code == 0 || !strings.Contains(strings.ToUpper(errOut), "AUTHORIZATION") {
		t.Errorf("produce with an ACL for bob only: exit %d, %s; want an authorization failure", code, errOut)
	}

	out, errOut, code = runCLI(t, "", "acls", "delete", "--topic", topic, "--principal", "User:bob")
	if code != 0 || strings.Count(out, "User:bob") != 2 {
		t.Fatalf("acls delete: %d %q %s", code, out, errOut)
	}
	if _, errOut, code := runCLI(t, "after\n", "produce", topic); code != 0 {
		t.Errorf("produce after the ACLs are deleted: %d %s", code, errOut)
	}
}

func TestACLsUsage(t *testing.T) {
	for _, args := range [][]string{
		{"acls"},
		{"acls", "create", "--topic", "t", "--allow", "User:bob"},            // no operation
		{"acls", "create", "--topic", "t", "--operation", "read"},            // no principal
		{"acls", "create", "--allow", "User:bob", "--operation", "read"},     // no resource
		{"acls", "create", "--topic", "t", "--cluster", "--allow", "User:b"}, // two resources
		{"acls", "delete"}, // would delete everything
	} {
		if _, errOut, code := runCLI(t, "", args...); code != exitUsage {
			t.Errorf("%q: exit %d, want %d (usage); %s", args, code, exitUsage, errOut)
		}
	}
}
