// Command fakehub stands in for the Docker Hub HTTP API (hub.docker.com) in tests, compose and
// `make demo`: logins with expiring tokens, organizations, repositories and tags with Docker Hub's
// paging, rate limits and fault injection, plus /_fake/* control endpoints (see README.md). The
// handler lives in package hub so Go tests can use it in process. Standard library only.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/scoutbridge/scoutbridge/tools/fakehub/hub"
	"github.com/scoutbridge/scoutbridge/tools/internal/envvar"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "fakehub:", err)
		os.Exit(1)
	}
}

// probe GETs /_fake/health on the listen address (":8081" means localhost:8081).
func probe(listen string) error {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return fmt.Errorf("-listen %q: %w", listen, err)
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "localhost"
	}
	client := &http.Client{Timeout: 3 * time.Second}
	resp, err := client.Get("http://" + net.JoinHostPort(host, port) + "/_fake/health")
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck: %s", resp.Status)
	}
	return nil
}

func run(args []string) error {
	fs := flag.NewFlagSet("fakehub", flag.ContinueOnError)
	listen := fs.String("listen", envvar.String("FAKEHUB_LISTEN", ":8081"), "listen address (env FAKEHUB_LISTEN)")
	publicURL := fs.String("public-url", envvar.String("FAKEHUB_PUBLIC_URL", ""), "base of the absolute next URLs, e.g. http://fakehub:8081; empty: the request's Host (env FAKEHUB_PUBLIC_URL)")
	demo := fs.Bool("demo", envvar.String("FAKEHUB_DEMO", "") == "true", "seed the demo catalog: organization acme, images pushed within the last 24h (env FAKEHUB_DEMO=true)")
	catalog := fs.String("catalog", envvar.String("FAKEHUB_CATALOG", ""), "JSON catalog file: {\"pushes\": [...]} (env FAKEHUB_CATALOG)")
	generate := fs.String("generate", envvar.String("FAKEHUB_GENERATE", ""), "generated catalog NxMxK: N namespaces (ns0...) x M repositories x K tags (env FAKEHUB_GENERATE)")
	spread := fs.Duration("spread", envvar.Duration("FAKEHUB_SPREAD", 30*24*time.Hour), "generated push times are spread over this long before now (env FAKEHUB_SPREAD)")
	age := fs.Duration("generate-age", envvar.Duration("FAKEHUB_GENERATE_AGE", 0), "the newest generated push is this old, so a recent window holds only later pushes (env FAKEHUB_GENERATE_AGE)")
	seed := fs.Uint64("seed", uint64(envvar.Int("FAKEHUB_SEED", 1)), "seed of the generator and of random faults (env FAKEHUB_SEED)")
	username := fs.String("username", envvar.String("FAKEHUB_USERNAME", ""), "accepted username; empty accepts any (env FAKEHUB_USERNAME)")
	tokenTTL := fs.Duration("token-ttl", envvar.Duration("FAKEHUB_TOKEN_TTL", 10*time.Minute), "lifetime of issued tokens (env FAKEHUB_TOKEN_TTL)")
	rateLimit := fs.Int("rate-limit", envvar.Int("FAKEHUB_RATE_LIMIT", 0), "requests per minute before 429; 0 = unlimited (env FAKEHUB_RATE_LIMIT)")
	errorRatio := fs.Float64("error-ratio", envvar.Float("FAKEHUB_ERROR_RATIO", 0), "share of API calls answered 503, 0 to 1 (env FAKEHUB_ERROR_RATIO)")
	latency := fs.Duration("latency", envvar.Duration("FAKEHUB_LATENCY", 0), "delay added to every API answer (env FAKEHUB_LATENCY)")
	expired := fs.Bool("expired-tokens", envvar.String("FAKEHUB_EXPIRED_TOKENS", "") == "true", "issue tokens that are already expired: every authenticated call gets 401 (env FAKEHUB_EXPIRED_TOKENS=true)")
	healthcheck := fs.Bool("healthcheck", false, "ask the fakehub on -listen whether it answers, exit 0 if so, 1 if not (for container healthchecks)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if *healthcheck {
		return probe(*listen)
	}
	// The accepted token is a secret: environment or file only, never a flag (a command line is
	// visible to every user of the host through ps).
	token, err := envvar.Secret("FAKEHUB_TOKEN")
	if err != nil {
		return err
	}
	if *errorRatio < 0 || *errorRatio > 1 {
		return fmt.Errorf("-error-ratio %v: must be between 0 and 1", *errorRatio)
	}
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil)).With("service", "fakehub")
	h := hub.New(hub.Options{
		PublicURL: *publicURL, Username: *username, Token: token, TokenTTL: *tokenTTL, RateLimit: *rateLimit, Seed: *seed,
		Faults: hub.Faults{ErrorRatio: *errorRatio, Latency: hub.Duration(*latency), ExpiredTokens: *expired},
	})
	var pushes []hub.Push
	if *demo {
		pushes = append(pushes, hub.Demo(time.Now())...)
	}
	if *catalog != "" {
		raw, err := os.ReadFile(*catalog)
		if err != nil {
			return fmt.Errorf("-catalog: %w", err)
		}
		ps, err := hub.DecodeCatalog(raw)
		if err != nil {
			return fmt.Errorf("-catalog %s: %w", *catalog, err)
		}
		pushes = append(pushes, ps...)
	}
	if *generate != "" {
		var n, m, k int
		if _, err := fmt.Sscanf(strings.ReplaceAll(*generate, "x", " "), "%d %d %d", &n, &m, &k); err != nil || n < 1 || m < 1 || k < 1 {
			return fmt.Errorf("-generate %q: want NxMxK with positive numbers, e.g. 2x200x50", *generate)
		}
		pushes = append(pushes, hub.Generate(hub.Generator{Namespaces: n, Repositories: m, Tags: k, Spread: *spread, End: time.Now().Add(-*age), Seed: *seed})...)
	}
	if err := h.Push(pushes...); err != nil {
		return fmt.Errorf("catalog: %w", err)
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	srv := &http.Server{Addr: *listen, Handler: h, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	log.Info("serving", "addr", *listen, "public_url", *publicURL, "pushes", len(pushes), "rate_limit", *rateLimit)
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return srv.Shutdown(sctx)
}
