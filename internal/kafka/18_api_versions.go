package kafka

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// ApiVersions v0-v4 (v4 is v3 on the wire). A request at a version above
// ours is answered, undecoded, with a v0 UNSUPPORTED_VERSION response that
// lists our ApiVersions range (see decodeRequest), as Kafka does.
func init() { register(kmsg.ApiVersions.Int16(), 0, 4, (*Server).handleApiVersions) }

func (s *Server) handleApiVersions(_ context.Context, r *request) (Reply, error) {
	req := r.msg.(*kmsg.ApiVersionsRequest)
	resp := req.ResponseKind().(*kmsg.ApiVersionsResponse)
	if req.Version >= 3 {
		// Kafka requires both to match [a-zA-Z0-9](?:[a-zA-Z0-9\-.]*[a-zA-Z0-9])?.
		if !validSoftware(req.ClientSoftwareName) || !validSoftware(req.ClientSoftwareVersion) {
			resp.ErrorCode = kerr.InvalidRequest.Code
			return respond(resp)
		}
		if r.conn != nil {
			r.conn.software = req.ClientSoftwareName + "/" + req.ClientSoftwareVersion
		}
	}
	resp.ApiKeys = s.handlers.apiVersions()
	return respond(resp)
}

func validSoftware(s string) bool {
	alnum := func(c byte) bool {
		return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
	}
	if s == "" || !alnum(s[0]) || !alnum(s[len(s)-1]) {
		return false
	}
	for i := 1; i < len(s)-1; i++ {
		if c := s[i]; !alnum(c) && c != '-' && c != '.' {
			return false
		}
	}
	return true
}
