// Package hub is a stand-in for the Docker Hub HTTP API, for tests and demos.
//
// It answers like hub.docker.com (see docs in ../README.md): both login calls with expiring JWT-like
// tokens, the user's organizations, repositories and tags on the current and legacy paths with
// Docker Hub's paging (page, page_size capped at 100, 404 past the end, absolute next URLs), tag
// objects shaped like real ones, X-RateLimit-* headers and 429 once a per-minute budget is spent,
// and fault injection. Tests build it with New, push images with Push, read Calls and set Faults; the
// fakehub command serves the same handler.
package hub

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Options configure a Hub.
type Options struct {
	// PublicURL is the base of the absolute next/previous URLs (e.g. "http://fakehub:8081"). Empty: the
	// scheme and Host of the request.
	PublicURL string
	// Username and Token are the accepted credentials. Empty: any non-empty pair is accepted.
	Username string
	Token    string
	// TokenTTL is how long an issued token is valid (default 10 minutes, as Docker Hub).
	TokenTTL time.Duration
	// RateLimit is the per-minute request budget; 0 means unlimited (headers still say 180).
	RateLimit int
	// Seed makes the random fault choices reproducible.
	Seed uint64
	// Now is the clock (tests); default time.Now.
	Now func() time.Time
	// Faults is the starting fault setting.
	Faults Faults
}

// Hub is the stand-in. It is an http.Handler and safe for concurrent use.
type Hub struct {
	opts Options
	mux  *http.ServeMux

	mu         sync.Mutex
	namespaces map[string]*namespace
	nextID     int64
	tokens     map[string]time.Time // token → expiry
	faults     Faults
	rng        *rand.Rand
	calls      Calls
	window     int64 // current rate-limit minute (unix minute)
	used       int
}

// New returns a Hub with an empty catalog.
func New(opts Options) *Hub {
	if opts.TokenTTL <= 0 {
		opts.TokenTTL = 10 * time.Minute
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	opts.PublicURL = strings.TrimRight(opts.PublicURL, "/")
	h := &Hub{
		opts:       opts,
		namespaces: map[string]*namespace{},
		tokens:     map[string]time.Time{},
		faults:     opts.Faults,
		rng:        rand.New(rand.NewPCG(opts.Seed, 0xfa117)),
		calls:      Calls{Paths: map[string]int64{}},
	}
	h.routes()
	return h
}

func (h *Hub) routes() {
	m := http.NewServeMux()
	api := func(pattern, kind string, fn func(http.ResponseWriter, *http.Request)) {
		m.HandleFunc(pattern, h.guard(kind, fn))
	}
	api("POST /v2/auth/token", "auth_token", h.authToken)
	api("POST /v2/users/login", "login", h.login)
	api("POST /v2/users/login/", "login", h.login)
	api("GET /v2/user/orgs/", "orgs", h.orgs)
	api("GET /v2/user/orgs", "orgs", h.orgs)
	api("GET /v2/namespaces/{ns}/repositories", "repositories", h.repositories)
	api("GET /v2/namespaces/{ns}/repositories/", "repositories", h.repositories)
	api("GET /v2/repositories/{ns}/{$}", "repositories", h.repositories)
	api("GET /v2/namespaces/{ns}/repositories/{repo}/tags", "tags", h.tags)
	api("GET /v2/namespaces/{ns}/repositories/{repo}/tags/", "tags", h.tags)
	api("GET /v2/repositories/{ns}/{repo}/tags", "tags", h.tags)
	api("GET /v2/repositories/{ns}/{repo}/tags/{$}", "tags", h.tags)
	api("GET /v2/namespaces/{ns}/repositories/{repo}/tags/{tag}", "tag", h.oneTag)
	api("GET /v2/repositories/{ns}/{repo}/tags/{tag}", "tag", h.oneTag)
	m.HandleFunc("POST /_fake/push", h.controlPush)
	m.HandleFunc("GET /_fake/calls", h.controlCalls)
	m.HandleFunc("DELETE /_fake/calls", h.controlResetCalls)
	m.HandleFunc("GET /_fake/faults", h.controlGetFaults)
	m.HandleFunc("PUT /_fake/faults", h.controlSetFaults)
	m.HandleFunc("POST /_fake/expire-tokens", h.controlExpire)
	m.HandleFunc("GET /_fake/health", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	h.mux = m
}

// ServeHTTP answers one request.
func (h *Hub) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

// Push adds images to the catalog (as if pushed now, or at PushedAt). Bad pushes are rejected whole
// with an error that says what is wrong; nothing is stored then.
func (h *Hub) Push(pushes ...Push) error {
	var errs []error
	for i := range pushes {
		if err := pushes[i].validate(); err != nil {
			errs = append(errs, fmt.Errorf("push %d: %w", i, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	now := h.opts.Now()
	for _, p := range pushes {
		h.apply(p, now)
	}
	return nil
}

// ExpireTokens makes every token issued so far expired (the next call with one gets 401).
func (h *Hub) ExpireTokens() {
	h.mu.Lock()
	defer h.mu.Unlock()
	now := h.opts.Now()
	for tok := range h.tokens {
		h.tokens[tok] = now.Add(-time.Second)
	}
}

// SetFaults replaces the fault settings.
func (h *Hub) SetFaults(f Faults) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.faults = f
}

// Faults returns the current fault settings (counters decrease as faults are served).
func (h *Hub) Faults() Faults {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.faults.clone()
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func (h *Hub) publicBase(r *http.Request) string {
	if h.opts.PublicURL != "" {
		return h.opts.PublicURL
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}
