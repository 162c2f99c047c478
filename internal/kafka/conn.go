package kafka

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/internal/bufpool"
)

// conn is one client connection. Its read goroutine decodes requests and
// calls their handlers in order; its write goroutine writes the responses in
// the same order, waiting for each one that is not ready yet. The queue
// between them holds at most MaxInFlightRequests requests.
type conn struct {
	s      *Server
	nc     net.Conn
	addr   string // the client address its limit counts against
	log    *slog.Logger
	ctx    context.Context // ends when the connection closes
	cancel context.CancelFunc
	queue  chan *slot

	// readCtx ends when the connection closes or stops reading: a read
	// waiting for the request budget gives up.
	readCtx    context.Context
	readCancel context.CancelFunc
	// writerDone is closed when the write goroutine has ended; nil until
	// the first request starts it, so that a connection that never sends
	// costs one goroutine. Touched only by the read goroutine.
	writerDone chan struct{}

	stopping  atomic.Bool  // Shutdown: read no more requests
	inflight  atomic.Int32 // requests read and not yet answered
	lastWrite atomic.Int64 // unix nanos of the last response written
	closeOnce sync.Once

	// software is the client's name and version from ApiVersions v3+;
	// touched only by the read goroutine.
	software string

	// principal is who the connection acts for, in Kafka's "User:NAME"
	// form: anonymousPrincipal until the connection authenticates (a SASL
	// exchange or a client certificate). Written only by the read
	// goroutine, which also runs the handlers' synchronous part: a handler
	// reads it through request.principal.
	principal string

	// listener is the listener the connection was accepted on.
	listener *listener
	// sasl is the connection's SASL progress (sasl_conn.go).
	sasl saslState
	// closeAfter is set by a handler whose response must be the
	// connection's last (a failed authentication): the connection reads
	// no more requests, writes the responses of those it read, and closes.
	// Touched only by the read goroutine.
	closeAfter bool
	// mutedUntil is when a client quota's throttle ends (unix nanos):
	// until then no request is read (see quota.go).
	mutedUntil atomic.Int64
}

// anonymousPrincipal is the principal of a connection that has not
// authenticated, as Kafka names it.
const anonymousPrincipal = "User:ANONYMOUS"

// slot is one request's place in the response order.
type slot struct {
	key     int16
	version int16 // of the response
	corr    int32
	start   time.Time
	done    chan struct{} // closed when resp or err is set; nil when ready at once
	resp    kmsg.Response
	err     error  // the handler failed: close the connection
	raw     []byte // a raw SASL token (v0 framing) to write instead of resp
	result  string // metrics result once written; resultOK when empty
	charge  int64  // request budget held until the deferred part ends
	quota   *quotaCall
}

func newConn(s *Server, nc net.Conn) *conn {
	ctx, cancel := context.WithCancel(s.baseCtx)
	readCtx, readCancel := context.WithCancel(ctx)
	return &conn{
		s:          s,
		nc:         nc,
		log:        s.log.With("remote", nc.RemoteAddr().String()),
		ctx:        ctx,
		cancel:     cancel,
		readCtx:    readCtx,
		readCancel: readCancel,
		queue:      make(chan *slot, max(s.cfg.MaxInFlightRequests, 1)),
		principal:  anonymousPrincipal,
	}
}

// serve runs the connection until the client or the server closes it.
func (c *conn) serve() {
	c.readLoop()
	if c.writerDone != nil {
		<-c.writerDone
	}
	c.abort()
	// Requests read but never answered: the writer stopped early.
	for sl := range c.queue {
		c.s.metrics.requests.WithLabelValues(apiName(sl.key), resultAborted).Inc()
	}
}

// startWriter starts the write goroutine, once.
func (c *conn) startWriter() {
	if c.writerDone != nil {
		return
	}
	c.writerDone = make(chan struct{})
	go func() {
		defer close(c.writerDone)
		c.writeLoop()
	}()
}

// stopReading makes the read loop stop before its next request; requests
// already read are still answered.
func (c *conn) stopReading() {
	c.stopping.Store(true)
	c.readCancel()
	c.nc.SetReadDeadline(time.Now())
}

// abort closes the connection now and cancels the work in flight.
func (c *conn) abort() {
	c.closeOnce.Do(func() {
		c.cancel()
		c.nc.Close()
	})
}

var errStopping = errors.New("server shutting down")

// setReadDeadline sets the read deadline d from now (none when d is 0).
func (c *conn) setReadDeadline(d time.Duration) error {
	var t time.Time
	if d > 0 {
		t = time.Now().Add(d)
	}
	c.nc.SetReadDeadline(t)
	// Checked after setting, so that a deadline set by stopReading is
	// either seen here or set after ours.
	if c.stopping.Load() {
		return errStopping
	}
	return nil
}

// armDeadline sets the read deadline for the next request's length: the
// idle timeout.
func (c *conn) armDeadline() error { return c.setReadDeadline(c.s.cfg.IdleTimeout) }

// armRequestDeadline sets the read deadline for the rest of a request
// whose length has arrived: the request read timeout, so that a client
// that stalls in a request holds its share of the request budget for no
// longer than that.
func (c *conn) armRequestDeadline() error {
	d := c.s.cfg.RequestReadTimeout
	if d <= 0 {
		d = c.s.cfg.IdleTimeout
	}
	return c.setReadDeadline(d)
}

// errChargeTooLarge: a request whose charge exceeds the whole request
// budget can never be read.
var errChargeTooLarge = errors.New("request charged above the request budget")

func (c *conn) readLoop() {
	defer close(c.queue)
	if !c.startTLS() {
		return
	}
	head := make([]byte, 4+headerSize)
	for {
		if c.sasl.raw {
			if !c.readSASLToken() {
				return
			}
			continue
		}
		if !c.waitUnmuted() || c.armDeadline() != nil {
			return
		}
		var charge int64
		key := int16(-1)
		admit := func(first []byte, length int) error {
			if len(first) >= 2 {
				key = int16(binary.BigEndian.Uint16(first))
			}
			if err := c.s.handlers.servable(first); err != nil {
				return err // refused before its body is read
			}
			if err := c.gate(key, length); err != nil {
				return err // not in the connection's authentication state
			}
			want := requestCharge(key, length)
			if !c.s.budget.fits(want) {
				return fmt.Errorf("%w: %s", errChargeTooLarge, limitMessage(apiName(key), want, c.s.budget.size))
			}
			// The time spent waiting for the budget is not the
			// client's: the deadline starts again once it is granted.
			if err := c.s.budget.acquire(c.readCtx, c.addr, want); err != nil {
				return err
			}
			charge = want
			return c.armRequestDeadline()
		}
		frame, n, err := readFrame(c.nc, head, c.s.cfg.MaxRequestBytes, c.armRequestDeadline, admit)
		if err != nil {
			c.s.budget.release(c.addr, charge)
			var ne net.Error
			switch {
			case c.stopping.Load() || c.ctx.Err() != nil:
			case n == 0 && errors.As(err, &ne) && ne.Timeout():
				if c.inflight.Load() > 0 || time.Since(time.Unix(0, c.lastWrite.Load())) < c.s.cfg.IdleTimeout {
					continue // waiting on, or just sent, our own responses is not idle
				}
				c.log.Debug("closing idle connection")
			case n == 0 && errors.Is(err, io.EOF):
			case errors.Is(err, errFrameTooLarge):
				c.s.metrics.requests.WithLabelValues(apiName(-1), resultTooLarge).Inc()
				c.log.Debug("closing connection", "err", err)
			case errors.Is(err, errUnknownKey), errors.Is(err, errUnsupportedVersion):
				c.s.metrics.requests.WithLabelValues(apiName(key), resultUnsupported).Inc()
				c.log.Debug("closing connection on bad request", "err", err)
			case errors.Is(err, errChargeTooLarge):
				c.s.metrics.requests.WithLabelValues(apiName(key), resultTooLarge).Inc()
				if ok, n := c.s.rateLog.allow("too large " + apiName(key)); ok {
					c.log.Warn("closing connection: request too large for the request budget", "err", err, "refused", n)
				}
			case errors.Is(err, errUnauthenticated), errors.Is(err, errSessionExpired):
				c.s.metrics.requests.WithLabelValues(apiName(key), resultUnauthenticated).Inc()
				if ok, n := c.s.rateLog.allow("unauthenticated"); ok {
					c.log.Info("closing connection", "listener", c.listener.Name, "err", err, "refused", n)
				}
			case errors.As(err, &ne) && ne.Timeout():
				c.s.metrics.requests.WithLabelValues(apiName(key), resultStalled).Inc()
				c.log.Debug("closing connection: request stalled", "read", n, "timeout", c.s.cfg.RequestReadTimeout)
			default:
				c.log.Debug("read failed", "err", err)
			}
			return
		}
		// A request read while the response that throttled its
		// client was being sent waits out the throttle too.
		if !c.waitUnmuted() {
			c.s.budget.release(c.addr, charge)
			return
		}
		if !c.dispatch(frame, charge, time.Now()) {
			return
		}
	}
}

// dispatch decodes one frame and calls its handler. charge is what the
// request holds of the request budget; dispatch gives it back once the
// handler is done with the request. It returns false when the connection
// must read no more.
func (c *conn) dispatch(frame []byte, charge int64, start time.Time) bool {
	d, err := decodeRequest(frame, c.s.handlers)
	if err != nil {
		c.s.budget.release(c.addr, charge)
		result := resultMalformed
		if errors.Is(err, errUnknownKey) || errors.Is(err, errUnsupportedVersion) {
			result = resultUnsupported
		}
		c.s.metrics.requests.WithLabelValues(apiName(d.hdr.key), result).Inc()
		c.log.Debug("closing connection on bad request", "err", err, "correlation_id", d.hdr.corr)
		return false
	}
	if d.hdr.key == produceKey {
		// Held from here: the frame and what it decoded to.
		hold := min(charge, int64(len(frame))+d.decodedSize)
		c.s.budget.release(c.addr, charge-hold)
		charge = hold
	}
	sl := &slot{key: d.hdr.key, version: d.hdr.version, corr: d.hdr.corr, start: start}
	if d.apiVersionsFallback {
		c.s.budget.release(c.addr, charge)
		sl.version = 0
		sl.resp = apiVersionsUnsupported(d.api)
		sl.result = resultUnsupported
		c.log.Debug("unsupported ApiVersions version", "version", d.hdr.version)
		return c.enqueue(sl)
	}

	req := &request{
		key:      d.hdr.key,
		version:  d.hdr.version,
		corr:     d.hdr.corr,
		clientID: d.hdr.clientID,
		msg:      d.msg,
		conn:     c,
	}
	sl.quota = c.s.quotas.begin(req, len(frame))
	reply, err := c.call(d.api.fn, req)
	sl.quota.handled()
	if d.hdr.key == kmsg.Produce.Int16() {
		// The handler copied what it keeps (see readFrame).
		req.msg = nil
		bufpool.Put(frame)
	}
	if err == nil && reply.Later != nil && d.hdr.key != kmsg.Produce.Int16() {
		sl.charge = charge // the deferred part still reads the request
	} else {
		c.s.budget.release(c.addr, charge)
	}
	switch {
	case errors.Is(err, errCloseConn):
		c.s.metrics.requests.WithLabelValues(apiName(sl.key), resultUnavailable).Inc()
		return false
	case err != nil:
	case reply.None:
		c.mute(sl.quota.throttle(nil))
		c.s.metrics.requests.WithLabelValues(apiName(sl.key), resultNoResponse).Inc()
		c.s.metrics.latency.WithLabelValues(apiName(sl.key)).Observe(time.Since(start).Seconds())
		return true
	case reply.Later != nil:
		sl.done = make(chan struct{})
		go c.finish(sl, reply.Later)
		return c.enqueue(sl) && !c.closeAfter
	case reply.Resp != nil:
		sl.resp = reply.Resp
	default:
		err = errors.New("handler returned an empty reply")
	}
	if err != nil {
		c.s.metrics.requests.WithLabelValues(apiName(sl.key), resultFailed).Inc()
		c.log.Error("request failed", "api", apiName(sl.key), "version", sl.version,
			"client_id", req.clientID, "client_software", c.software, "err", err)
		return false
	}
	return c.enqueue(sl) && !c.closeAfter
}

// call runs a handler, turning a panic into an error.
func (c *conn) call(fn handlerFunc, req *request) (reply Reply, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v\n%s", p, debug.Stack())
		}
	}()
	return fn(c.s, c.ctx, req)
}

// finish runs the deferred part of a handler.
func (c *conn) finish(sl *slot, later func(context.Context) kmsg.Response) {
	defer close(sl.done)
	defer func() { c.s.budget.release(c.addr, sl.charge) }()
	defer func() {
		if p := recover(); p != nil {
			sl.err = fmt.Errorf("panic: %v\n%s", p, debug.Stack())
		}
	}()
	sl.resp = later(c.ctx)
}

// enqueue hands a slot to the writer, waiting while the queue is full.
func (c *conn) enqueue(sl *slot) bool {
	c.startWriter()
	c.inflight.Add(1)
	select {
	case c.queue <- sl:
		return true
	case <-c.ctx.Done():
		c.inflight.Add(-1)
		c.s.metrics.requests.WithLabelValues(apiName(sl.key), resultAborted).Inc()
		return false
	}
}

func (c *conn) writeLoop() {
	bw := bufio.NewWriterSize(c.nc, 32<<10)
	var buf []byte
	flush := func() bool {
		if bw.Buffered() == 0 {
			return true
		}
		c.armWriteDeadline()
		if err := bw.Flush(); err != nil {
			c.log.Debug("write failed", "err", err)
			c.abort()
			return false
		}
		return true
	}
	for {
		var sl *slot
		var ok bool
		select {
		case sl, ok = <-c.queue:
		default:
			if !flush() {
				return
			}
			sl, ok = <-c.queue
		}
		if !ok {
			flush()
			return
		}
		if sl.done != nil {
			select {
			case <-sl.done:
			default:
				if !flush() {
					c.dropSlot(sl)
					return
				}
				select {
				case <-sl.done:
				case <-c.ctx.Done():
					c.dropSlot(sl)
					return
				}
			}
		}
		c.inflight.Add(-1)
		if sl.raw != nil {
			if !c.writeRaw(bw, sl) {
				return
			}
			continue
		}
		api := apiName(sl.key)
		if sl.err == nil && (sl.resp == nil || sl.resp.Key() != sl.key) {
			sl.err = fmt.Errorf("handler answered %T", sl.resp)
		}
		if sl.err != nil {
			c.s.metrics.requests.WithLabelValues(api, resultFailed).Inc()
			c.log.Error("request failed", "api", api, "version", sl.version, "err", sl.err)
			c.abort()
			return
		}
		sl.resp.SetVersion(sl.version)
		muteFor := sl.quota.throttle(sl.resp)
		var err error
		if fr, ok := sl.resp.(*fetchResponse); ok {
			// Header and fields from buf, record batches from the
			// reader's cache, in one vectored write after what is
			// buffered. (A TLS connection gets one write, and one TLS
			// record at least, per piece.)
			var pieces net.Buffers
			buf, pieces = appendVectoredResponse(responseBuffer(buf, responseSizeHint(sl.resp)), sl.corr, fr)
			c.armWriteDeadline()
			if err = bw.Flush(); err == nil {
				_, err = pieces.WriteTo(c.nc)
			}
		} else {
			buf = appendResponse(responseBuffer(buf, responseSizeHint(sl.resp)), sl.corr, sl.resp)
			c.armWriteDeadline()
			_, err = bw.Write(buf)
		}
		if err != nil {
			c.s.metrics.requests.WithLabelValues(api, resultAborted).Inc()
			c.log.Debug("write failed", "err", err)
			c.abort()
			return
		}
		c.lastWrite.Store(time.Now().UnixNano())
		c.mute(muteFor)
		buf = releaseResponseBuffer(buf) // no connection holds a large buffer for its life
		result := sl.result
		if result == "" {
			result = resultOK
		}
		c.s.metrics.requests.WithLabelValues(api, result).Inc()
		c.s.metrics.latency.WithLabelValues(api).Observe(time.Since(sl.start).Seconds())
	}
}

// dropSlot accounts for a slot the writer gives up on.
func (c *conn) dropSlot(sl *slot) {
	c.inflight.Add(-1)
	c.s.metrics.requests.WithLabelValues(apiName(sl.key), resultAborted).Inc()
	c.abort()
}

// armWriteDeadline bounds how long a client that does not read its
// responses can hold a write.
func (c *conn) armWriteDeadline() {
	var t time.Time
	if d := c.s.cfg.IdleTimeout; d > 0 {
		t = time.Now().Add(d)
	}
	c.nc.SetWriteDeadline(t)
}

// apiVersionsUnsupported is Kafka's answer to an ApiVersions request at a
// version it does not know: v0, UNSUPPORTED_VERSION, and the ApiVersions
// range it does serve.
func apiVersionsUnsupported(api apiHandler) kmsg.Response {
	resp := kmsg.NewPtrApiVersionsResponse()
	resp.ErrorCode = kerr.UnsupportedVersion.Code
	k := kmsg.NewApiVersionsResponseApiKey()
	k.ApiKey = api.key
	k.MinVersion = api.minVersion
	k.MaxVersion = api.maxVersion
	resp.ApiKeys = append(resp.ApiKeys, k)
	return resp
}
