package kafka

import "net"

// clientHost is the client's IP address, the host Kafka's ACLs name. A
// connection that is not TCP (a pipe in tests) has its address as it is.
func (r *request) clientHost() string {
	addr := r.conn.nc.RemoteAddr()
	if tcp, ok := addr.(*net.TCPAddr); ok {
		return tcp.AddrPort().Addr().Unmap().String()
	}
	if host, _, err := net.SplitHostPort(addr.String()); err == nil {
		return host
	}
	return addr.String()
}
