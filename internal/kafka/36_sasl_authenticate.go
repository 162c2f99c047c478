package kafka

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// SaslAuthenticate (36) carries one message of the exchange a v1
// SaslHandshake started (see sasl_conn.go). v1+ answers the session
// lifetime (KIP-368) once the exchange succeeds. A failure is answered
// SASL_AUTHENTICATION_FAILED, with a message that never says what was
// wrong, after the address's failure delay, and closes the connection; a
// SaslAuthenticate without a v1 handshake before it is ILLEGAL_SASL_STATE.
func init() {
	register(saslAuthenticateKey, 0, 2, (*Server).handleSaslAuthenticate)
}

func (s *Server) handleSaslAuthenticate(ctx context.Context, r *request) (Reply, error) {
	req := r.msg.(*kmsg.SASLAuthenticateRequest)
	resp := req.ResponseKind().(*kmsg.SASLAuthenticateResponse)
	c := r.conn
	if c.sasl.exchange == nil || c.sasl.raw {
		c.closeAfter = true
		resp.ErrorCode = kerr.IllegalSaslState.Code
		resp.ErrorMessage = strPtr("SaslAuthenticate without a SaslHandshake v1 before it")
		return respond(resp)
	}
	step := c.saslStep(ctx, req.SASLAuthBytes)
	if step.failed != nil {
		msg := step.failed.Error()
		return c.failAuthentication(func() kmsg.Response {
			resp.ErrorCode = kerr.SaslAuthenticationFailed.Code
			resp.ErrorMessage = strPtr(msg)
			return resp
		}), nil
	}
	resp.SASLAuthBytes = step.reply
	if step.done {
		resp.SessionLifetimeMillis = c.sessionLifetimeMillis()
	}
	return respond(resp)
}
