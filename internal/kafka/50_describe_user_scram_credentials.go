package kafka

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/internal/acl"
	"github.com/stratalog/strata/internal/sasl"
	"github.com/stratalog/strata/metastore"
)

// DescribeUserScramCredentials v0: the SCRAM mechanisms and iteration
// counts of users, never their salts or keys. As Kafka answers: no users
// (or a null list) describes every user with a credential; a named user
// without one gets RESOURCE_NOT_FOUND, a user named twice
// DUPLICATE_RESOURCE.
func init() {
	registerNeeding(kmsg.DescribeUserSCRAMCredentials.Int16(), 0, 0, needScram, (*Server).handleDescribeUserScram)
}

// scramMechanismCode is the mechanism's code in the SCRAM credential
// APIs (Kafka's ScramMechanism); 0 for an unknown one.
func scramMechanismCode(name string) int8 {
	switch name {
	case sasl.ScramSHA256:
		return 1
	case sasl.ScramSHA512:
		return 2
	}
	return 0
}

func scramMechanismName(code int8) string {
	switch code {
	case 1:
		return sasl.ScramSHA256
	case 2:
		return sasl.ScramSHA512
	}
	return ""
}

func (s *Server) handleDescribeUserScram(ctx context.Context, r *request) (Reply, error) {
	req := r.msg.(*kmsg.DescribeUserSCRAMCredentialsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeUserSCRAMCredentialsResponse)
	// As Kafka: Describe on the cluster.
	if !s.authz(r).cluster(acl.OpDescribe) {
		resp.ErrorCode, resp.ErrorMessage = kerr.ClusterAuthorizationFailed.Code, strPtr("not authorized to describe SCRAM credentials")
		return respond(resp)
	}

	var names []string
	count := map[string]int{}
	for _, u := range req.Users {
		if count[u.Name] == 0 {
			names = append(names, u.Name)
		}
		count[u.Name]++
	}
	var lookup []string
	for _, n := range names {
		if count[n] == 1 {
			lookup = append(lookup, n)
		}
	}
	var creds []metastore.ScramCredential
	if len(req.Users) == 0 || len(lookup) > 0 {
		var err error
		if creds, err = s.scram.ScramCredentials(ctx, lookup); err != nil {
			resp.ErrorCode, resp.ErrorMessage = s.errorCodeMessage("DescribeUserScramCredentials", err)
			return respond(resp)
		}
	}
	byUser := map[string][]metastore.ScramCredential{}
	for _, c := range creds {
		if _, ok := byUser[c.User]; !ok && len(req.Users) == 0 {
			names = append(names, c.User)
		}
		byUser[c.User] = append(byUser[c.User], c)
	}
	for _, n := range names {
		res := kmsg.NewDescribeUserSCRAMCredentialsResponseResult()
		res.User = n
		switch {
		case count[n] > 1:
			res.ErrorCode = kerr.DuplicateResource.Code
			res.ErrorMessage = strPtr("cannot describe SCRAM credentials for the same user twice in a single request")
		case len(byUser[n]) == 0:
			res.ErrorCode = kerr.ResourceNotFound.Code
			res.ErrorMessage = strPtr("attempt to describe a user credential that does not exist")
		default:
			for _, c := range byUser[n] {
				ci := kmsg.NewDescribeUserSCRAMCredentialsResponseResultCredentialInfo()
				ci.Mechanism = scramMechanismCode(c.Mechanism)
				ci.Iterations = c.Iterations
				res.CredentialInfos = append(res.CredentialInfos, ci)
			}
		}
		resp.Results = append(resp.Results, res)
	}
	return respond(resp)
}

// withoutScram leaves the SCRAM credential APIs out of t when there is no
// credential store.
func withoutScram(store metastore.ScramStore, t handlerTable) (metastore.ScramStore, handlerTable) {
	if isNil(store) {
		for k, h := range t {
			if h.needs&needScram != 0 {
				delete(t, k)
			}
		}
		return nil, t
	}
	return store, t
}
