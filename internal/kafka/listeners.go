package kafka

import (
	"fmt"
	"net"
	"slices"
	"strings"
)

// Listener is one named Kafka listener, as Kafka's listeners,
// advertised.listeners and listener.security.protocol.map describe it.
type Listener struct {
	// Name is the listener's name (PLAINTEXT, SASL_SSL, or any name the
	// protocol map gives a protocol to).
	Name string
	// Protocol is the security protocol: PLAINTEXT, SSL, SASL_PLAINTEXT
	// or SASL_SSL.
	Protocol string
	// Address is the host:port the listener binds.
	Address string
	// Advertised is the host:port clients connected on this listener are
	// told to connect to. Empty means Address.
	Advertised string
}

var securityProtocols = map[string]bool{
	"PLAINTEXT": true, "SSL": true, "SASL_PLAINTEXT": true, "SASL_SSL": true,
}

// ParseListeners reads Kafka-style listener settings: listeners as
// "NAME://host:port,...", advertised as the same form for a subset of the
// names, and protocolMap as "NAME:PROTOCOL,...". A name absent from the map
// must itself be a security protocol, as in Kafka's default map.
func ParseListeners(listeners, advertised, protocolMap string) ([]Listener, error) {
	protos := map[string]string{}
	for _, entry := range splitList(protocolMap) {
		name, proto, ok := strings.Cut(entry, ":")
		name, proto = strings.ToUpper(strings.TrimSpace(name)), strings.ToUpper(strings.TrimSpace(proto))
		if !ok || name == "" || !securityProtocols[proto] {
			return nil, fmt.Errorf("listener security protocol map: bad entry %q (want NAME:PROTOCOL, PROTOCOL one of PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL)", entry)
		}
		protos[name] = proto
	}
	parse := func(what, list string) (map[string]string, []string, error) {
		addrs, order := map[string]string{}, []string(nil)
		for _, entry := range splitList(list) {
			name, addr, ok := strings.Cut(entry, "://")
			name = strings.ToUpper(strings.TrimSpace(name))
			if !ok || name == "" {
				return nil, nil, fmt.Errorf("%s: bad entry %q (want NAME://host:port)", what, entry)
			}
			if _, _, err := net.SplitHostPort(addr); err != nil {
				return nil, nil, fmt.Errorf("%s: bad address in %q: %v", what, entry, err)
			}
			if _, dup := addrs[name]; dup {
				return nil, nil, fmt.Errorf("%s: listener %s named twice", what, name)
			}
			addrs[name] = addr
			order = append(order, name)
		}
		return addrs, order, nil
	}
	binds, order, err := parse("listeners", listeners)
	if err != nil {
		return nil, err
	}
	ads, _, err := parse("advertised listeners", advertised)
	if err != nil {
		return nil, err
	}
	for name := range ads {
		if _, ok := binds[name]; !ok {
			return nil, fmt.Errorf("advertised listeners: %s is not a listener", name)
		}
	}
	out := make([]Listener, 0, len(order))
	for _, name := range order {
		proto, ok := protos[name]
		if !ok {
			if !securityProtocols[name] {
				return nil, fmt.Errorf("listeners: %s has no security protocol in the listener security protocol map", name)
			}
			proto = name
		}
		out = append(out, Listener{Name: name, Protocol: proto, Address: binds[name], Advertised: ads[name]})
	}
	return out, nil
}

func splitList(s string) []string {
	var out []string
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}

// TLS reports whether the listener's connections use TLS.
func (l Listener) TLS() bool { return l.Protocol == "SSL" || l.Protocol == "SASL_SSL" }

// SASL reports whether the listener's clients must authenticate with SASL.
func (l Listener) SASL() bool { return l.Protocol == "SASL_PLAINTEXT" || l.Protocol == "SASL_SSL" }

// listenersAuthenticate reports whether some listener of c authenticates
// its clients: by SASL, or by client certificates on a TLS listener.
func (c Config) listenersAuthenticate() bool {
	ls, err := c.ListenerSet()
	if err != nil {
		return false
	}
	return slices.ContainsFunc(ls, func(l Listener) bool {
		return l.SASL() || l.TLS() && c.TLS.ClientAuth != "" && c.TLS.ClientAuth != ClientAuthNone
	})
}
