// Command orchestrator schedules and drives scoutbridge runs: discover the images pushed to Docker Hub
// in a window, scan each new digest, ingest the findings, and re-evaluate the digests running now.
package main

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/grpc"

	orchestratorv1 "github.com/scoutbridge/scoutbridge/gen/scoutbridge/orchestrator/v1"
	"github.com/scoutbridge/scoutbridge/pkg/chassis"
	"github.com/scoutbridge/scoutbridge/pkg/config"
	"github.com/scoutbridge/scoutbridge/pkg/grpcclient"
	"github.com/scoutbridge/scoutbridge/pkg/retry"
	"github.com/scoutbridge/scoutbridge/services/orchestrator/internal/peers"
	"github.com/scoutbridge/scoutbridge/services/orchestrator/internal/run"
	"github.com/scoutbridge/scoutbridge/services/orchestrator/internal/server"
	"github.com/scoutbridge/scoutbridge/services/orchestrator/internal/store"
)

type settings struct {
	db              string
	runInterval     time.Duration
	initialLookback time.Duration
	scanConcurrency int
	maxAttempts     int
	retryInitial    time.Duration
	discoveryAddr   string
	scannerAddr     string
	ingestAddr      string
	runtimeAddr     string
	rescanInterval  time.Duration
	outboxPoll      time.Duration
	token           config.Secret
}

func main() {
	var c settings
	chassis.Main(chassis.Program{
		Name:          "orchestrator",
		DefaultListen: ":7070",
		Config: func(s *config.Set) {
			s.String(&c.db, "ORCHESTRATOR_DB", "data/orchestrator.db", "SQLite database file (runs, watermark, scan memory)")
			s.Duration(&c.runInterval, "RUN_INTERVAL", 24*time.Hour, "time between scheduled runs; 0 = runs start on demand only (StartRun)")
			s.Duration(&c.initialLookback, "INITIAL_LOOKBACK", 24*time.Hour, "window of the very first run")
			s.Int(&c.scanConcurrency, "SCAN_CONCURRENCY", 4, "ScanImage calls in flight at once")
			s.Int(&c.maxAttempts, "SCAN_MAX_ATTEMPTS", 5, "calls per image (scan, ingest) and per discovery listing while the peer is unavailable")
			s.Duration(&c.retryInitial, "RETRY_INITIAL_BACKOFF", 500*time.Millisecond, "wait after the first failed attempt (doubles, capped at 15s, ±20% jitter)")
			s.String(&c.discoveryAddr, "DISCOVERY_ADDR", "localhost:7071", "discovery service address")
			s.String(&c.scannerAddr, "SCANNER_ADDR", "localhost:7072", "scanner service address; a DNS name with several addresses balances round robin")
			s.String(&c.ingestAddr, "INGEST_ADDR", "localhost:7073", "ingest service address")
			s.String(&c.runtimeAddr, "RUNTIME_ADDR", "localhost:7074", "runtime (triage) service address; empty = no re-evaluation of running images, no notifications")
			s.Duration(&c.rescanInterval, "RESCAN_INTERVAL", 24*time.Hour, "running digests last scanned longer ago are scanned again; 0 = never")
			s.Duration(&c.outboxPoll, "OUTBOX_POLL_INTERVAL", 30*time.Second, "how often ingest's outbox depth is read for the metric")
			s.Secret(&c.token, "ORCHESTRATOR_TOKEN", "bearer token StartRun and CancelRun require (unset: no check)")
			s.Check(func() error {
				switch {
				case c.db == "":
					return config.Invalid("ORCHESTRATOR_DB", "must name a file")
				case c.runInterval < 0:
					return config.Invalid("RUN_INTERVAL", "must be 0 (on demand) or positive")
				case c.initialLookback <= 0:
					return config.Invalid("INITIAL_LOOKBACK", "must be positive")
				case c.scanConcurrency < 1 || c.scanConcurrency > 256:
					return config.Invalid("SCAN_CONCURRENCY", "must be between 1 and 256")
				case c.maxAttempts < 1:
					return config.Invalid("SCAN_MAX_ATTEMPTS", "must be at least 1")
				case c.retryInitial <= 0:
					return config.Invalid("RETRY_INITIAL_BACKOFF", "must be positive")
				case c.rescanInterval < 0:
					return config.Invalid("RESCAN_INTERVAL", "must be 0 (off) or positive")
				case c.outboxPoll <= 0:
					return config.Invalid("OUTBOX_POLL_INTERVAL", "must be positive")
				case c.discoveryAddr == "":
					return config.Invalid("DISCOVERY_ADDR", "must be set")
				case c.scannerAddr == "":
					return config.Invalid("SCANNER_ADDR", "must be set")
				case c.ingestAddr == "":
					return config.Invalid("INGEST_ADDR", "must be set")
				}
				return nil
			})
		},
		Setup: func(ctx context.Context, app *chassis.App) error { return setup(ctx, app, c) },
	})
}

func setup(ctx context.Context, app *chassis.App, c settings) error {
	st, err := store.Open(ctx, c.db)
	if err != nil {
		return fmt.Errorf("open %s: %w", c.db, err)
	}
	app.OnShutdown(func(context.Context) { _ = st.Close() })

	dial := func(setting, addr string) (*grpc.ClientConn, error) {
		cc, err := grpcclient.New(addr)
		if err != nil {
			return nil, config.Invalid(setting, "%v", err)
		}
		app.OnShutdown(func(context.Context) { _ = cc.Close() })
		return cc, nil
	}
	dc, err := dial("DISCOVERY_ADDR", c.discoveryAddr)
	if err != nil {
		return err
	}
	sc, err := dial("SCANNER_ADDR", c.scannerAddr)
	if err != nil {
		return err
	}
	ic, err := dial("INGEST_ADDR", c.ingestAddr)
	if err != nil {
		return err
	}
	var rt run.Runtime
	if c.runtimeAddr != "" {
		rc, err := dial("RUNTIME_ADDR", c.runtimeAddr)
		if err != nil {
			return err
		}
		rt = peers.NewRuntime(rc)
	}
	ingest := peers.NewIngest(ic)
	o, err := run.New(ctx, st, peers.NewDiscovery(dc), peers.NewScanner(sc), ingest, rt, run.Options{
		InitialLookback: c.initialLookback,
		ScanConcurrency: c.scanConcurrency,
		MaxAttempts:     c.maxAttempts,
		Backoff:         retry.Backoff{Initial: c.retryInitial, Max: 15 * time.Second, Multiplier: 2, Jitter: 0.2},
		RescanInterval:  c.rescanInterval,
		Logger:          app.Logger,
	})
	if err != nil {
		return err
	}
	orchestratorv1.RegisterOrchestratorServiceServer(app.GRPC, server.New(o, c.token, app.Logger))
	if err := o.Resume(ctx); err != nil {
		return err
	}
	app.Go(func(ctx context.Context) error { return o.Schedule(ctx, c.runInterval) })
	app.Go(func(ctx context.Context) error { return o.PollOutbox(ctx, c.outboxPoll) })
	app.OnShutdown(func(context.Context) { o.Wait() })
	app.Logger.InfoContext(ctx, "orchestrator ready", "db", c.db, "run_interval", c.runInterval.String(),
		"scan_concurrency", c.scanConcurrency, "scanner", c.scannerAddr, "runtime", c.runtimeAddr,
		"control_token", c.token.IsSet())
	return nil
}
