package kafka

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Reply is a handler's answer to one request. Exactly one of its forms is
// used:
//
//   - Resp: the response, ready now.
//   - Later: the rest of the work, such as waiting for a commit or a long
//     poll. It runs in its own goroutine, concurrently with the requests that
//     follow on the same connection; its response is still written in request
//     order. ctx ends when the connection closes.
//   - None: the request gets no response (a Produce with acks=0).
type Reply struct {
	Resp  kmsg.Response
	Later func(ctx context.Context) kmsg.Response
	None  bool
}

// request is one decoded request as handlers see it.
type request struct {
	key      int16
	version  int16
	corr     int32
	clientID string
	msg      kmsg.Request
	conn     *conn
}

// principal is who the request acts for (see conn.principal). Read it in
// the handler's synchronous part: a Later function runs after requests
// that may re-authenticate the connection.
func (r *request) principal() string { return r.conn.principal }

// errCloseConn is returned by a handler whose request cannot be answered
// but by closing the connection, such as a Metadata request for every
// topic while the metastore is down (v0-v12 have no top-level error). The
// client retries on a new connection; the handler has logged the cause.
var errCloseConn = errors.New("closing the connection: the request cannot be answered now")

// handlerFunc serves one API key. It is called on the connection's read
// goroutine, in request order. A non-nil error is a server fault: it is
// logged and the connection is closed.
type handlerFunc func(s *Server, ctx context.Context, r *request) (Reply, error)

// apiHandler is a registered API: the versions served and the handler.
type apiHandler struct {
	key        int16
	minVersion int16
	maxVersion int16
	needs      needs // collaborators the handler cannot work without
	fn         handlerFunc
}

// needs lists the optional collaborators (Deps) an API requires; a server
// without them neither serves nor advertises the API.
type needs uint8

const (
	needIngest needs = 1 << iota
	needReader
	needGroups
	needScram // the SCRAM credential store; see withoutScram
	needACLs
)

// registry holds the APIs registered by the init functions of the files
// named after their keys (03_metadata.go, ...).
var registry = map[int16]apiHandler{}

// register adds an API served at versions [minV, maxV], capped at the
// highest version kmsg can decode.
func register(key, minV, maxV int16, fn handlerFunc) { registerNeeding(key, minV, maxV, 0, fn) }

// registerNeeding is register for an API that requires collaborators.
func registerNeeding(key, minV, maxV int16, n needs, fn handlerFunc) {
	req := kmsg.RequestForKey(key)
	if req == nil {
		panic(fmt.Sprintf("kafka: register unknown key %d", key))
	}
	maxV = min(maxV, req.MaxVersion())
	if minV < 0 || maxV < minV {
		panic(fmt.Sprintf("kafka: register key %d with versions %d..%d", key, minV, maxV))
	}
	if _, dup := registry[key]; dup {
		panic(fmt.Sprintf("kafka: key %d registered twice", key))
	}
	registry[key] = apiHandler{key: key, minVersion: minV, maxVersion: maxV, needs: n, fn: fn}
}

// handlerTable is a server's own copy of the registry, indexed by key.
type handlerTable map[int16]apiHandler

// newHandlerTable copies the registry, leaving out the APIs whose
// collaborators are missing.
func newHandlerTable(haveIngest, haveReader, haveGroups, haveACLs bool) handlerTable {
	t := make(handlerTable, len(registry))
	for k, h := range registry {
		if h.needs&needIngest != 0 && !haveIngest || h.needs&needReader != 0 && !haveReader ||
			h.needs&needGroups != 0 && !haveGroups || h.needs&needACLs != 0 && !haveACLs {
			continue
		}
		t[k] = h
	}
	return t
}

// apiVersions lists the served APIs, ordered by key, for ApiVersions.
func (t handlerTable) apiVersions() []kmsg.ApiVersionsResponseApiKey {
	keys := make([]kmsg.ApiVersionsResponseApiKey, 0, len(t))
	for _, h := range t {
		k := kmsg.NewApiVersionsResponseApiKey()
		k.ApiKey = h.key
		k.MinVersion = h.minVersion
		k.MaxVersion = h.maxVersion
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].ApiKey < keys[j].ApiKey })
	return keys
}

// respond wraps a ready response.
func respond(resp kmsg.Response) (Reply, error) { return Reply{Resp: resp}, nil }
