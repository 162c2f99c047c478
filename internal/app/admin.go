package app

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"net/http"
	"net/http/pprof"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// adminHandler serves /metrics, /healthz (the process is up), /readyz (it
// serves Kafka and reaches its metastore), /v1/status (the node registry,
// leaders per node and compaction figures, as JSON), /debug/pprof and the
// web console at /ui/.
// With a token, everything but /healthz, /readyz and (when public)
// /metrics needs it.
func (a *App) adminHandler(token string) http.Handler {
	open := http.NewServeMux()
	guarded := http.NewServeMux()
	metrics := promhttp.HandlerFor(a.reg, promhttp.HandlerOpts{Registry: a.reg})
	if a.cfg.AdminMetricsPublic {
		open.Handle("/metrics", metrics)
	} else {
		guarded.Handle("/metrics", metrics)
	}
	open.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Write([]byte("ok\n"))
	})
	open.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) {
		if !a.ready.Load() {
			http.Error(w, "not serving", http.StatusServiceUnavailable)
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if _, err := a.store.ListTopics(ctx); err != nil {
			http.Error(w, "metastore: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ready\n"))
	})
	guarded.Handle("/v1/status", statusHandler(a.store, a.cfg.Cluster.Lease))
	if a.console != nil {
		guarded.Handle("/ui/", a.console)
	}
	guarded.HandleFunc("/debug/pprof/", pprof.Index)
	// Go's own cmdline handler prints os.Args, secrets and all.
	guarded.HandleFunc("/debug/pprof/cmdline", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprint(w, strings.Join(RedactArgs(os.Args), "\x00"))
	})
	guarded.HandleFunc("/debug/pprof/profile", pprof.Profile)
	guarded.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	guarded.HandleFunc("/debug/pprof/trace", pprof.Trace)
	open.Handle("/", requireToken(token, guarded))
	return open
}

// requireToken passes on a request that carries "Authorization: Bearer
// <token>"; any other gets 401. An empty token lets every request through.
// Both sides are hashed before the constant-time comparison, so that
// neither the content nor the length of the token leaks through timing.
func requireToken(token string, next http.Handler) http.Handler {
	if token == "" {
		return next
	}
	want := sha256.Sum256([]byte(token))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		sum := sha256.Sum256([]byte(got))
		if !ok || subtle.ConstantTimeCompare(sum[:], want[:]) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="strata admin"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// secretFlags are the flags whose values RedactArgs hides.
var secretFlags = map[string]bool{
	"objstore.secret-access-key": true,
	"metastore.postgres.url":     true,
	"auth.bootstrap-password":    true,
	"kafka.tls.key-pem":          true,
	"console.password":           true,
}

// Redacted replaces a secret wherever the process shows its command line.
const Redacted = "REDACTED"

// RedactArgs returns args with the value of every secret flag replaced,
// in each form the flag package accepts: -name=value, --name=value and
// -name value.
func RedactArgs(args []string) []string {
	out := make([]string, len(args))
	copy(out, args)
	for i := 1; i < len(out); i++ {
		arg := out[i]
		if arg == "--" {
			break
		}
		if !strings.HasPrefix(arg, "-") {
			continue
		}
		name := strings.TrimLeft(arg, "-")
		if n, _, ok := strings.Cut(name, "="); ok {
			if secretFlags[n] {
				out[i] = arg[:len(arg)-len(name)] + n + "=" + Redacted
			}
			continue
		}
		if secretFlags[name] && i+1 < len(out) {
			out[i+1] = Redacted
			i++
		}
	}
	return out
}
