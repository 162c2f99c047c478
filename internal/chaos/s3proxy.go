package chaos

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// S3Proxy is an HTTP proxy between one node and the object store that
// injects faults into that node's requests. Requests keep their Host
// header, so that their signatures stay valid.
type S3Proxy struct {
	name   string
	ln     net.Listener
	srv    *http.Server
	target *url.URL

	mu       sync.Mutex
	fault    s3Fault
	rng      *rand.Rand
	healed   chan struct{} // closed when the current fault is healed
	onWrite  func(after bool)
	hookMode string

	requests atomic.Int64
	faulted  atomic.Int64
	skewed   atomic.Int64 // listings answered with skewed times
}

// s3Fault is the fault a proxy injects now; the zero value is none.
type s3Fault struct {
	kind  FaultKind
	ratio float64
	delay time.Duration
	mode  string // s3-slow: "request" or "response"
	// writesOnly limits the fault to PUT and POST requests.
	writesOnly bool
	// skew is subtracted from every LastModified of a listing.
	skew time.Duration
}

// errLostResponse makes the proxy drop the client's connection after the
// request was applied.
var errLostResponse = errors.New("chaos: response lost on purpose")

// NewS3Proxy listens on a free port of 127.0.0.1 and forwards to the
// object store at target (http://host:port).
func NewS3Proxy(name, target string, seed uint64) (*S3Proxy, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, fmt.Errorf("chaos: s3 proxy target: %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("chaos: s3 proxy listen: %w", err)
	}
	p := &S3Proxy{name: name, ln: ln, target: u, rng: rand.New(rand.NewPCG(seed, 7)), healed: make(chan struct{})}
	rp := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(u)
			r.Out.Host = r.In.Host // signed with the proxy's host
		},
		Transport: p,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			// Lost responses and held requests end with the
			// connection dropped, as a dead network path would.
			panic(http.ErrAbortHandler)
		},
		ErrorLog: nil,
	}
	p.srv = &http.Server{Handler: rp, ReadHeaderTimeout: time.Minute, ErrorLog: discardLog}
	go func() { _ = p.srv.Serve(ln) }()
	return p, nil
}

// URL is the endpoint the node is given.
func (p *S3Proxy) URL() string { return "http://" + p.ln.Addr().String() }

// Close stops the proxy.
func (p *S3Proxy) Close() {
	p.Heal()
	_ = p.srv.Close()
}

// Inject sets the fault the proxy injects until Heal.
func (p *S3Proxy) inject(f s3Fault) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.fault = f
}

// Heal ends the current fault; requests held by a timeout fault are
// dropped.
func (p *S3Proxy) Heal() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.fault = s3Fault{}
	p.onWrite = nil
	close(p.healed)
	p.healed = make(chan struct{})
}

// OnNextWrite calls fn once, for the next PUT or POST through the proxy:
// before forwarding it (after false) or after the object store answered
// it and before the answer is passed on (after true).
func (p *S3Proxy) OnNextWrite(after bool, fn func(after bool)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.hookMode = map[bool]string{false: "before", true: "after"}[after]
	p.onWrite = fn
}

// SkewedListings is how many listings the proxy answered with moved
// times.
func (p *S3Proxy) SkewedListings() int64 { return p.skewed.Load() }

// Counts returns how many requests went through and how many were hit by
// a fault.
func (p *S3Proxy) Counts() (requests, faulted int64) { return p.requests.Load(), p.faulted.Load() }

var transport = &http.Transport{
	Proxy:               nil,
	DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
	MaxIdleConnsPerHost: 64,
	IdleConnTimeout:     30 * time.Second,
	DisableCompression:  true,
}

// RoundTrip forwards one request, injecting the current fault.
func (p *S3Proxy) RoundTrip(req *http.Request) (*http.Response, error) {
	p.requests.Add(1)
	write := req.Method == http.MethodPut || req.Method == http.MethodPost
	p.mu.Lock()
	f := p.fault
	healed := p.healed
	hit := f.kind != "" && (!f.writesOnly || write) && p.rng.Float64() < f.ratio
	var hook func(bool)
	hookAfter := false
	if write && p.onWrite != nil {
		hook, hookAfter = p.onWrite, p.hookMode == "after"
		p.onWrite = nil
	}
	p.mu.Unlock()

	if hook != nil && !hookAfter {
		// The writer dies before its request reaches the store.
		hook(false)
		return nil, errLostResponse
	}
	if hit {
		p.faulted.Add(1)
		switch f.kind {
		case FaultS3Error:
			return s3Error(req, http.StatusInternalServerError, "InternalError", "We encountered an internal error. Please try again."), nil
		case FaultS3SlowDown:
			return s3Error(req, http.StatusServiceUnavailable, "SlowDown", "Please reduce your request rate."), nil
		case FaultS3Timeout:
			// Never forwarded: held until the client gives up or the
			// fault is healed, then the connection is dropped.
			select {
			case <-req.Context().Done():
			case <-healed:
			}
			return nil, errLostResponse
		case FaultS3Slow:
			if f.mode != "response" {
				if err := sleepCtx(req.Context(), f.delay); err != nil {
					return nil, err
				}
			}
		}
	}
	resp, err := transport.RoundTrip(req)
	if hook != nil && hookAfter {
		hook(true)
	}
	if err != nil {
		return nil, err
	}
	if hit {
		switch f.kind {
		case FaultS3LostResponse:
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			return nil, errLostResponse
		case FaultS3Slow:
			if f.mode == "response" {
				if err := sleepCtx(req.Context(), f.delay); err != nil {
					resp.Body.Close()
					return nil, err
				}
			}
		}
	}
	if f.skew != 0 && req.Method == http.MethodGet && req.URL.Query().Has("list-type") && resp.StatusCode == http.StatusOK {
		p.skewed.Add(1)
		return skewListing(resp, f.skew)
	}
	return resp, nil
}

var lastModified = regexp.MustCompile(`<LastModified>([^<]+)</LastModified>`)

// skewListing moves every LastModified of a ListObjectsV2 answer back by
// skew: the listing client sees objects as older than they are, as a
// client whose clock is ahead would.
func skewListing(resp *http.Response, skew time.Duration) (*http.Response, error) {
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	body = lastModified.ReplaceAllFunc(body, func(m []byte) []byte {
		sub := lastModified.FindSubmatch(m)
		t, err := time.Parse(time.RFC3339Nano, string(sub[1]))
		if err != nil {
			return m
		}
		return []byte("<LastModified>" + t.Add(-skew).UTC().Format("2006-01-02T15:04:05.000Z") + "</LastModified>")
	})
	resp.Body = io.NopCloser(bytes.NewReader(body))
	resp.ContentLength = int64(len(body))
	resp.Header.Set("Content-Length", strconv.Itoa(len(body)))
	return resp, nil
}

// s3Error is an S3 error answer.
func s3Error(req *http.Request, status int, code, msg string) *http.Response {
	body := fmt.Sprintf(`<?xml version="1.0" encoding="UTF-8"?>`+"\n"+
		`<Error><Code>%s</Code><Message>%s</Message><Resource>%s</Resource><RequestId>chaos</RequestId></Error>`,
		code, msg, req.URL.Path)
	h := http.Header{}
	h.Set("Content-Type", "application/xml")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	if status == http.StatusServiceUnavailable {
		h.Set("Retry-After", "1")
	}
	return &http.Response{
		Status:        fmt.Sprintf("%d %s", status, http.StatusText(status)),
		StatusCode:    status,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        h,
		Body:          io.NopCloser(bytes.NewReader([]byte(body))),
		ContentLength: int64(len(body)),
		Request:       req,
	}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
