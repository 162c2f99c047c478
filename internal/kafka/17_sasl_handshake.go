package kafka

import (
	"context"
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/internal/sasl"
)

// SaslHandshake (17) starts a SASL exchange on a SASL listener with the
// mechanism the client names (see sasl_conn.go). v0 is followed by raw
// tokens, v1 by SaslAuthenticate requests; only v1 may re-authenticate an
// authenticated connection (KIP-368). An unsupported mechanism is
// answered UNSUPPORTED_SASL_MECHANISM with the mechanisms offered, and a
// handshake out of turn (on a listener without SASL, or in the middle of
// an exchange) ILLEGAL_SASL_STATE; both close the connection.
func init() {
	register(saslHandshakeKey, 0, 1, (*Server).handleSaslHandshake)
}

func (s *Server) handleSaslHandshake(_ context.Context, r *request) (Reply, error) {
	req := r.msg.(*kmsg.SASLHandshakeRequest)
	resp := req.ResponseKind().(*kmsg.SASLHandshakeResponse)
	c := r.conn
	resp.SupportedMechanisms = s.mechanisms()
	if !c.listener.SASL() || c.sasl.exchange != nil || (c.sasl.done && req.Version < 1) {
		c.closeAfter = true
		resp.ErrorCode = kerr.IllegalSaslState.Code
		return respond(resp)
	}
	ex, err := s.sasl.Start(req.Mechanism)
	if err != nil {
		if !errors.Is(err, sasl.ErrUnsupportedMechanism) {
			return Reply{}, err
		}
		s.auth.authentications.WithLabelValues("unsupported", "unsupported_mechanism").Inc()
		c.closeAfter = true
		resp.ErrorCode = kerr.UnsupportedSaslMechanism.Code
		return respond(resp)
	}
	c.sasl.exchange, c.sasl.mechanism, c.sasl.raw = ex, req.Mechanism, req.Version == 0
	return respond(resp)
}
