// Package hub is the Docker Hub HTTP API client discovery uses (the adapter behind discover.Hub).
//
// It logs in with a username and token (POST /v2/auth/token, falling back to /v2/users/login),
// refreshes the JWT before it expires and once on 401, follows Docker Hub's `next` links exactly as
// given, slows down when X-RateLimit-Remaining runs low, waits out 429s (Retry-After or X-Retry-After)
// and retries 5xx and network errors with backoff and jitter, all bounded. Every request carries the
// caller's context (cancelling stops the work at once) and is traced with otelhttp. The token never
// appears in a log line or an error.
package hub

import (
	"cmp"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"

	"github.com/scoutbridge/scoutbridge/pkg/config"
	"github.com/scoutbridge/scoutbridge/pkg/retry"
)

// DefaultBaseURL is Docker Hub's API.
const DefaultBaseURL = "https://hub.docker.com"

// Config configures a Client. Zero values take the defaults.
type Config struct {
	// BaseURL of the API (DOCKERHUB_API_URL), default https://hub.docker.com.
	BaseURL string
	// Username and Token log in; without a token the client is anonymous (public repositories only).
	Username string
	Token    config.Secret
	// HTTPClient sends the requests; default: an otelhttp-traced client.
	HTTPClient *http.Client
	// Backoff between retries of 5xx, network errors and 429s without a wait hint.
	Backoff retry.Backoff
	// MaxAttempts bounds the tries of one request (default 6).
	MaxAttempts int
	// MaxWait bounds one wait for a rate limit (429 or an exhausted budget), default 2 minutes; a longer
	// announced wait fails the request instead.
	MaxWait time.Duration
	// PageSize of listings (default and maximum 100).
	PageSize int
	Logger   *slog.Logger
	// Now is the clock (tests); default time.Now.
	Now func() time.Time
}

// Client talks to the Docker Hub API. It is safe for concurrent use.
type Client struct {
	cfg  Config
	base *url.URL // parsed BaseURL: decides where the token may go (trust.go)
	http *http.Client
	log  *slog.Logger

	authMu    sync.Mutex // serializes logins
	mu        sync.Mutex
	jwt       string
	refreshAt time.Time
	notBefore time.Time // rate-limit pacing: no request before this
}

// New returns a Client.
func New(cfg Config) *Client {
	cfg.BaseURL = strings.TrimRight(cmp.Or(cfg.BaseURL, DefaultBaseURL), "/")
	if cfg.Backoff == (retry.Backoff{}) {
		cfg.Backoff = retry.Backoff{Initial: 250 * time.Millisecond, Max: 10 * time.Second, Multiplier: 2, Jitter: 0.3}
	}
	cfg.MaxAttempts = cmp.Or(cfg.MaxAttempts, 6)
	cfg.MaxWait = cmp.Or(cfg.MaxWait, 2*time.Minute)
	if cfg.PageSize <= 0 || cfg.PageSize > 100 {
		cfg.PageSize = 100
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{Transport: otelhttp.NewTransport(http.DefaultTransport.(*http.Transport).Clone(),
			otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string {
				return "dockerhub " + r.Method + " " + r.URL.Path
			}))}
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	base, err := url.Parse(cfg.BaseURL)
	if err != nil {
		base = &url.URL{} // the token then goes nowhere: main validates DOCKERHUB_API_URL before this
	}
	return &Client{cfg: cfg, base: base, http: hc, log: log}
}

// Anonymous reports whether the client has no credentials.
func (c *Client) Anonymous() bool { return !c.cfg.Token.IsSet() }
