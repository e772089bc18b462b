// Command scanner is the scoutbridge scanner service: it scans image digests with Docker Scout through
// the Docker CLI and returns every finding (gRPC ScannerService on :7072).
package main

import (
	"context"
	"os"
	"time"

	"github.com/scoutbridge/scoutbridge/pkg/chassis"
	"github.com/scoutbridge/scoutbridge/pkg/config"

	scannerv1 "github.com/scoutbridge/scoutbridge/gen/scoutbridge/scanner/v1"
	"github.com/scoutbridge/scoutbridge/services/scanner/internal/scan"
	"github.com/scoutbridge/scoutbridge/services/scanner/internal/scout"
	"github.com/scoutbridge/scoutbridge/services/scanner/internal/server"
)

type settings struct {
	dockerBin     string
	platform      string
	concurrency   int
	queueSize     int
	timeout       time.Duration
	cacheTTL      time.Duration
	readyInterval time.Duration
}

func main() {
	var c settings
	chassis.Main(chassis.Program{
		Name:          "scanner",
		DefaultListen: ":7072",
		Config: func(s *config.Set) {
			s.String(&c.dockerBin, "DOCKER_BIN", "docker", "the docker CLI binary (name on PATH or path); Scout runs as `docker scout`")
			s.String(&c.platform, "SCANNER_PLATFORM", "linux/amd64", "platform scanned when a request names none")
			s.Int(&c.concurrency, "SCANNER_CONCURRENCY", 2, "Docker Scout processes at once")
			s.Int(&c.queueSize, "SCANNER_QUEUE_SIZE", 64, "scans that may wait for a free slot; more get ResourceExhausted")
			s.Duration(&c.timeout, "SCANNER_TIMEOUT", 10*time.Minute, "per scan; the Scout process group is killed after it")
			s.Duration(&c.cacheTTL, "SCANNER_CACHE_TTL", 6*time.Hour, "how long a report is served from the cache (0 = no cache)")
			s.Duration(&c.readyInterval, "SCANNER_READY_INTERVAL", time.Minute, "how often `docker scout version` is checked for readiness")
			s.Check(func() error {
				switch {
				case c.dockerBin == "":
					return config.Invalid("DOCKER_BIN", "must not be empty")
				case scan.ValidatePlatform(c.platform) != nil:
					return config.Invalid("SCANNER_PLATFORM", "%q is not os/arch[/variant], e.g. linux/amd64", c.platform)
				case c.concurrency < 1:
					return config.Invalid("SCANNER_CONCURRENCY", "must be at least 1")
				case c.queueSize < 0:
					return config.Invalid("SCANNER_QUEUE_SIZE", "must not be negative")
				case c.timeout <= 0:
					return config.Invalid("SCANNER_TIMEOUT", "must be positive")
				case c.cacheTTL < 0:
					return config.Invalid("SCANNER_CACHE_TTL", "must not be negative")
				case c.readyInterval <= 0:
					return config.Invalid("SCANNER_READY_INTERVAL", "must be positive")
				}
				return nil
			})
		},
		Setup: func(ctx context.Context, app *chassis.App) error {
			runner := scout.NewRunner(scout.Options{DockerBin: c.dockerBin, Environ: os.Environ()})
			scans := scan.New(scan.Config{
				Concurrency: c.concurrency, QueueSize: c.queueSize, Timeout: c.timeout,
				CacheTTL: c.cacheTTL, DefaultPlatform: c.platform, Logger: app.Logger,
			}, runner)
			scannerv1.RegisterScannerServiceServer(app.GRPC, server.New(scans, app.Logger))
			app.OnShutdown(scans.Close)
			app.Logger.InfoContext(ctx, "scanner settings", "docker_bin", c.dockerBin, "platform", c.platform,
				"concurrency", c.concurrency, "queue_size", c.queueSize, "timeout", c.timeout.String(),
				"cache_ttl", c.cacheTTL.String(), "temp_root", runner.TempRoot())

			check := func(ctx context.Context, last *scan.Readiness) {
				r := scans.CheckReady(ctx, 30*time.Second)
				app.SetServing(r.Ready)
				if last != nil && last.Ready == r.Ready && last.Reason == r.Reason {
					return
				}
				if r.Ready {
					app.Logger.InfoContext(ctx, "Docker Scout is ready", "version", r.Version)
				} else {
					app.Logger.ErrorContext(ctx, "Docker Scout is not usable; scans will fail until it is (health NOT_SERVING)",
						"reason", r.Reason, "how_to_fix", scout.InstallHint)
				}
				*last = r
			}
			var last scan.Readiness
			last.Reason = "unchecked"
			check(ctx, &last)
			app.Go(func(ctx context.Context) error {
				t := time.NewTicker(c.readyInterval)
				defer t.Stop()
				for {
					select {
					case <-ctx.Done():
						return nil
					case <-t.C:
						check(ctx, &last)
					}
				}
			})
			return nil
		},
	})
}
