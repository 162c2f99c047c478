package e2e

import (
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"testing"
	"time"
)

// cutProxy forwards TCP connections to a target and can cut all of them at
// random intervals, as a flaky network or a load balancer restart would.
type cutProxy struct {
	t      testing.TB
	ln     net.Listener
	target string

	mu    sync.Mutex
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup

	stopCut chan struct{}
	cutDone chan int // number of cuts, once cutting stops
}

// newCutProxy listens on a free port of 127.0.0.1 and forwards to target.
// It is closed when the test ends.
func newCutProxy(t testing.TB, target string) *cutProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("proxy listen: %v", err)
	}
	p := &cutProxy{t: t, ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.close)
	return p
}

// Addr is the address clients dial.
func (p *cutProxy) Addr() string { return p.ln.Addr().String() }

func (p *cutProxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		up, err := net.DialTimeout("tcp", p.target, 5*time.Second)
		if err != nil {
			c.Close()
			continue
		}
		if !p.track(c, up) {
			return
		}
		p.wg.Add(2)
		go p.pipe(c, up)
		go p.pipe(up, c)
	}
}

// track registers a connection pair; false when the proxy is closed.
func (p *cutProxy) track(cs ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.conns == nil {
		for _, c := range cs {
			c.Close()
		}
		return false
	}
	for _, c := range cs {
		p.conns[c] = struct{}{}
	}
	return true
}

// pipe copies from src to dst; when either side ends, both close.
func (p *cutProxy) pipe(dst, src net.Conn) {
	defer p.wg.Done()
	// A copy ends with an error on a cut or a reset; the peer sees it too.
	_, _ = io.Copy(dst, src)
	dst.Close()
	src.Close()
	p.mu.Lock()
	delete(p.conns, dst)
	delete(p.conns, src)
	p.mu.Unlock()
}

// CutAll closes every open connection, client and server side, and returns
// how many pairs it cut.
func (p *cutProxy) CutAll() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := len(p.conns) / 2
	for c := range p.conns {
		// Reset rather than close gracefully, as a dead peer would.
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetLinger(0)
		}
		c.Close()
	}
	return n
}

// StartCutting cuts all connections at random intervals in [lo, hi) until
// StopCutting.
func (p *cutProxy) StartCutting(lo, hi time.Duration) {
	p.stopCut = make(chan struct{})
	p.cutDone = make(chan int, 1)
	go func() {
		rng := rand.New(rand.NewPCG(1, 2))
		cuts := 0
		for {
			timer := time.NewTimer(lo + time.Duration(rng.Int64N(int64(hi-lo))))
			select {
			case <-p.stopCut:
				timer.Stop()
				p.cutDone <- cuts
				return
			case <-timer.C:
			}
			if p.CutAll() > 0 {
				cuts++
			}
		}
	}()
}

// StopCutting stops the cuts and returns how many cuts found connections to
// cut.
func (p *cutProxy) StopCutting() int {
	close(p.stopCut)
	return <-p.cutDone
}

func (p *cutProxy) close() {
	p.ln.Close()
	p.mu.Lock()
	conns := p.conns
	p.conns = nil
	p.mu.Unlock()
	for c := range conns {
		c.Close()
	}
	p.wg.Wait()
}
