// Package chassis is the one way every scoutbridge binary starts, serves and stops.
//
// A binary's main is a Program: its settings and a Setup that registers its gRPC service and background
// work. The chassis does the rest: flags with environment fallbacks, JSON logs with trace ids,
// OpenTelemetry from OTEL_*, a gRPC server with health, reflection, tracing and panic recovery, and a
// graceful shutdown on SIGTERM/SIGINT (health NOT_SERVING, a short drain so load balancers notice, open
// streams ended, GracefulStop, a hard stop after SHUTDOWN_TIMEOUT; exit 0). `-healthcheck` checks the
// local health endpoint, for container health probes in images that have no shell.
package chassis

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/scoutbridge/scoutbridge/pkg/config"
	"github.com/scoutbridge/scoutbridge/pkg/logging"
	"github.com/scoutbridge/scoutbridge/pkg/telemetry"
)

// Version is the build's version, set with -ldflags "-X github.com/scoutbridge/scoutbridge/pkg/chassis.Version=...".
var Version = "dev"

// drainNotice is how long health says NOT_SERVING before the server stops taking calls.
const drainNotice = 500 * time.Millisecond

// Program describes one binary.
type Program struct {
	// Name is the service name: logs, traces (service.name) and health use it.
	Name string
	// DefaultListen is LISTEN_ADDR's default, e.g. ":7071".
	DefaultListen string
	// Config registers the binary's own settings.
	Config func(s *config.Set)
	// Setup builds the service and registers it on app.GRPC. ctx ends when shutdown begins.
	Setup func(ctx context.Context, app *App) error
}

// App is what Setup gets to build a service with.
type App struct {
	Name   string
	Logger *slog.Logger
	GRPC   *grpc.Server
	Health *health.Server

	ctx      context.Context
	fail     func(error)
	wg       sync.WaitGroup
	mu       sync.Mutex
	closers  []func(context.Context)
	notReady bool
	started  bool
}

// Go runs background work until ctx ends at shutdown. An error other than a cancellation stops the
// binary with exit code 1.
func (a *App) Go(fn func(ctx context.Context) error) {
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		if err := fn(a.ctx); err != nil && !errors.Is(err, context.Canceled) {
			a.fail(err)
		}
	}()
}

// OnShutdown registers cleanup (closing databases) that runs after the server stopped, last
// registered first.
func (a *App) OnShutdown(fn func(ctx context.Context)) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.closers = append(a.closers, fn)
}

// SetServing sets the health status of the whole server and every registered service.
func (a *App) SetServing(serving bool) {
	a.mu.Lock()
	a.notReady = !serving
	started := a.started
	a.mu.Unlock()
	if started || !serving {
		a.applyHealth(serving)
	}
}

func (a *App) applyHealth(serving bool) {
	st := healthpb.HealthCheckResponse_SERVING
	if !serving {
		st = healthpb.HealthCheckResponse_NOT_SERVING
	}
	a.Health.SetServingStatus("", st)
	for name := range a.GRPC.GetServiceInfo() {
		a.Health.SetServingStatus(name, st)
	}
}

// Main runs the program and exits with its code.
func Main(p Program) {
	os.Exit(Run(context.Background(), p, os.Args[1:], os.Stderr))
}

// common holds the settings every binary has.
type common struct {
	listen          string
	logLevel        string
	shutdownTimeout time.Duration
	healthcheck     bool
}

// Run runs the program until a signal or a fatal error and returns the exit code: 0 after a clean
// shutdown, 1 after a failure, 2 for bad settings.
func Run(ctx context.Context, p Program, args []string, stderr io.Writer) int {
	var c common
	cfg := config.New(p.Name)
	cfg.String(&c.listen, "LISTEN_ADDR", p.DefaultListen, "gRPC listen address")
	cfg.String(&c.logLevel, "LOG_LEVEL", "info", "log level: debug, info, warn, error")
	cfg.Duration(&c.shutdownTimeout, "SHUTDOWN_TIMEOUT", 5*time.Second, "how long a shutdown may wait for calls in flight")
	cfg.FlagSet().BoolVar(&c.healthcheck, "healthcheck", false, "check the health of the server at LISTEN_ADDR and exit 0 if it is serving")
	level := slog.LevelInfo
	cfg.Check(func() error {
		l, err := logging.ParseLevel(c.logLevel)
		if err != nil {
			return config.Invalid("LOG_LEVEL", "%v", err)
		}
		level = l
		return nil
	})
	if p.Config != nil {
		p.Config(cfg)
	}
	if err := cfg.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			cfg.Usage(stderr)
			return 0
		}
		fmt.Fprintf(stderr, "%s: %v\n", p.Name, err)
		return 2
	}
	if c.healthcheck {
		if err := CheckHealth(ctx, c.listen, 3*time.Second); err != nil {
			fmt.Fprintf(stderr, "%s: unhealthy: %v\n", p.Name, err)
			return 1
		}
		return 0
	}

	logger := logging.New(stderr, p.Name, level)
	if err := serve(ctx, p, c, logger); err != nil {
		logger.Error("stopped with an error", "error", err.Error())
		return 1
	}
	return 0
}

func serve(ctx context.Context, p Program, c common, logger *slog.Logger) (err error) {
	ctx, stopSignals := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stopSignals()

	// The SDK comes first: otelgrpc reads the global providers when the server is built.
	flush, err := telemetry.Setup(ctx, p.Name, Version)
	if err != nil {
		return err
	}
	defer func() {
		fctx, cancel := context.WithTimeout(context.Background(), telemetry.FlushTimeout)
		defer cancel()
		if ferr := flush(fctx); ferr != nil {
			// A collector that went away must not turn a clean shutdown into a failure.
			logger.Warn("telemetry flush failed", "error", ferr.Error())
		}
	}()

	stopping, endStreams := context.WithCancel(context.Background())
	defer endStreams()
	srv, hs := newGRPCServer(logger, stopping)
	bg, stopBackground := context.WithCancel(context.Background())
	defer stopBackground()
	failed := make(chan error, 1)
	app := &App{Name: p.Name, Logger: logger, GRPC: srv, Health: hs, ctx: bg,
		fail: func(err error) {
			select {
			case failed <- err:
			default:
			}
		}}

	if p.Setup != nil {
		if err := p.Setup(bg, app); err != nil {
			stopBackground()
			app.wg.Wait()
			app.close(logger, c.shutdownTimeout)
			return fmt.Errorf("setup: %w", err)
		}
	}
	lis, err := net.Listen("tcp", c.listen)
	if err != nil {
		stopBackground()
		app.wg.Wait()
		app.close(logger, c.shutdownTimeout)
		return config.Invalid("LISTEN_ADDR", "cannot listen on %s: %v", c.listen, err)
	}
	app.mu.Lock()
	app.started = true
	serving := !app.notReady
	app.mu.Unlock()
	app.applyHealth(serving)

	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()
	logger.Info("serving", "addr", lis.Addr().String(), "version", Version)

	var runErr error
	select {
	case <-ctx.Done():
		logger.Info("shutting down", "reason", "signal")
	case runErr = <-failed:
		logger.Error("shutting down", "reason", "background work failed", "error", runErr.Error())
	case runErr = <-served:
		logger.Error("shutting down", "reason", "server stopped", "error", fmt.Sprint(runErr))
	}

	deadline := time.Now().Add(c.shutdownTimeout)
	hs.Shutdown() // every status NOT_SERVING, and it stays so
	select {
	case <-time.After(min(drainNotice, c.shutdownTimeout/2)):
	case runErr2 := <-served: // the server is already gone
		if runErr == nil {
			runErr = runErr2
		}
	}
	endStreams()
	stopBackground()
	stopped := make(chan struct{})
	go func() { srv.GracefulStop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(time.Until(deadline)):
		logger.Warn("calls still running at SHUTDOWN_TIMEOUT; stopping hard", "timeout", c.shutdownTimeout.String())
		srv.Stop()
		<-stopped
	}
	waitTimeout(&app.wg, time.Until(deadline), logger)
	app.close(logger, max(time.Until(deadline), time.Second))
	logger.Info("stopped")
	return runErr
}

func (a *App) close(logger *slog.Logger, timeout time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	a.mu.Lock()
	closers := a.closers
	a.mu.Unlock()
	for i := len(closers) - 1; i >= 0; i-- {
		closers[i](ctx)
	}
}

func waitTimeout(wg *sync.WaitGroup, d time.Duration, logger *slog.Logger) {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(max(d, 100*time.Millisecond)):
		logger.Warn("background work still running at SHUTDOWN_TIMEOUT")
	}
}
