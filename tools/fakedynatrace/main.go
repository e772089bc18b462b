// Command fakedynatrace stands in for Dynatrace in tests and demos: the security-events ingest API
// (POST /platform/ingest/v1/security.events and the ActiveGate form /e/{env}/platform/ingest/v1/...),
// with Api-Token checks, size limits, required-field validation, on-disk recording of accepted events
// and fault injection on demand (see README.md). Standard library only.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/scoutbridge/scoutbridge/tools/internal/envvar"
)

func main() {
	addr := flag.String("addr", envvar.String("LISTEN_ADDR", ":8083"), "listen address (env LISTEN_ADDR)")
	maxBody := flag.Int64("max-body-bytes", int64(envvar.Int("FAKEDT_MAX_BODY_BYTES", 10_000_000)), "bodies larger than this get 413 (env FAKEDT_MAX_BODY_BYTES)")
	eventsFile := flag.String("events-file", envvar.String("FAKEDT_EVENTS_FILE", filepath.Join(os.TempDir(), "fakedynatrace-events.jsonl")), "accepted events are appended here as JSON lines (env FAKEDT_EVENTS_FILE)")
	flag.Parse()

	log := slog.New(slog.NewJSONHandler(os.Stderr, nil)).With("service", "fakedynatrace")
	// Tokens are secrets: environment or file only, never a flag (a command line is visible to `ps`).
	token, err := envvar.Secret("FAKEDT_API_TOKEN")
	if err == nil {
		entitiesToken, err = envvar.Secret("FAKEDT_ENTITIES_TOKEN")
	}
	if err != nil {
		log.Error("cannot read a token", "error", err.Error())
		os.Exit(2)
	}
	rec, err := openIngestRecorder(*eventsFile)
	if err != nil {
		log.Error("cannot open the events file", "error", err.Error())
		os.Exit(1)
	}
	defer rec.close()
	srv := &ingestServer{token: token, maxBody: *maxBody, rec: rec, faults: &ingestFaults{}, log: log}
	mux := http.NewServeMux()
	srv.register(mux)
	registerEntityAPI(mux)

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	hs := &http.Server{Addr: *addr, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = hs.Shutdown(sctx)
	}()
	log.Info("serving", "addr", *addr, "events_file", *eventsFile, "max_body_bytes", *maxBody)
	if err := hs.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintln(os.Stderr, "fakedynatrace:", err)
		os.Exit(1)
	}
}
