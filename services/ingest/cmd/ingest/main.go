// Command ingest is the scoutbridge ingest service (gRPC, :7073): it turns scan reports into Dynatrace
// security events, commits them to an embedded SQLite store with a durable outbox, and delivers them to
// Dynatrace and/or a JSON-lines file in the background.
package main

import (
	"context"
	"fmt"
	"net/http"
	"time"

	ingestv1 "github.com/scoutbridge/scoutbridge/gen/scoutbridge/ingest/v1"
	"github.com/scoutbridge/scoutbridge/pkg/chassis"
	"github.com/scoutbridge/scoutbridge/pkg/config"
	"github.com/scoutbridge/scoutbridge/services/ingest/internal/delivery"
	"github.com/scoutbridge/scoutbridge/services/ingest/internal/server"
	"github.com/scoutbridge/scoutbridge/services/ingest/internal/sink"
	"github.com/scoutbridge/scoutbridge/services/ingest/internal/store"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

type settings struct {
	db            string
	dtURL         string
	dtToken       config.Secret
	maxBatchBytes int
	jsonlPath     string
}

// jsonlBatchBytes keeps JSONL batches well inside the tail the sink re-reads after a crash.
const jsonlBatchBytes = sink.JSONLTailWindow / 4

func main() {
	var c settings
	chassis.Main(chassis.Program{
		Name:          "ingest",
		DefaultListen: ":7073",
		Config: func(s *config.Set) {
			s.String(&c.db, "INGEST_DB", "data/ingest.db", "path of the SQLite store (created with its directory)")
			s.String(&c.dtURL, "DT_INGEST_URL", "", "full Dynatrace security-events URL, e.g. https://{env}.live.dynatrace.com/platform/ingest/v1/security.events; empty: no Dynatrace sink")
			s.Secret(&c.dtToken, "DT_API_TOKEN", "Dynatrace API token with scope openpipeline.events_security")
			s.Int(&c.maxBatchBytes, "INGEST_MAX_BATCH_BYTES", 10_000_000, "largest JSON body posted to Dynatrace, in bytes")
			s.String(&c.jsonlPath, "INGEST_JSONL_PATH", "", "also write every event as a JSON line to this file; empty: no JSONL sink")
			s.Check(func() error {
				if c.dtURL != "" && !c.dtToken.IsSet() {
					return config.Invalid("DT_API_TOKEN", "required when DT_INGEST_URL is set (or DT_API_TOKEN_FILE)")
				}
				if c.maxBatchBytes < 1024 {
					return config.Invalid("INGEST_MAX_BATCH_BYTES", "must be at least 1024, got %d", c.maxBatchBytes)
				}
				if c.db == "" {
					return config.Invalid("INGEST_DB", "must not be empty")
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
		return fmt.Errorf("open store %s: %w", c.db, err)
	}
	app.OnShutdown(func(context.Context) { _ = st.Close() })

	onState := func(name string, s delivery.State, reason string) {
		hs := healthpb.HealthCheckResponse_SERVING
		if s == delivery.Paused {
			hs = healthpb.HealthCheckResponse_NOT_SERVING
			app.Logger.Error("service degraded: a sink is paused", "sink", name, "reason", reason)
		}
		app.Health.SetServingStatus("ingest.sink."+name, hs)
	}
	var senders []*delivery.Sender
	if c.dtURL != "" {
		dt, err := sink.NewDynatrace(c.dtURL, c.dtToken, &http.Client{Timeout: 2 * time.Minute, Transport: otelhttp.NewTransport(http.DefaultTransport)})
		if err != nil {
			return config.Invalid("DT_INGEST_URL", "%v", err)
		}
		senders = append(senders, delivery.NewSender(dt, st, app.Logger, delivery.Options{MaxBytes: c.maxBatchBytes, OnState: onState}))
		app.Health.SetServingStatus("ingest.sink.dynatrace", healthpb.HealthCheckResponse_SERVING)
	}
	if c.jsonlPath != "" {
		j, err := sink.OpenJSONL(c.jsonlPath)
		if err != nil {
			return config.Invalid("INGEST_JSONL_PATH", "%v", err)
		}
		app.OnShutdown(func(context.Context) { _ = j.Close() })
		senders = append(senders, delivery.NewSender(j, st, app.Logger, delivery.Options{MaxBytes: jsonlBatchBytes, OnState: onState}))
		app.Health.SetServingStatus("ingest.sink.jsonl", healthpb.HealthCheckResponse_SERVING)
	}
	if len(senders) == 0 {
		app.Logger.Warn("no sink configured (DT_INGEST_URL, INGEST_JSONL_PATH): events stay in the store; query them with ListFindings", "store", c.db)
	}
	for _, snd := range senders {
		app.Logger.Info("delivering events", "sink", snd.Name(), "store", c.db)
		app.Go(snd.Run)
	}
	ingestv1.RegisterIngestServiceServer(app.GRPC, server.New(st, senders, app.Logger))
	return nil
}
