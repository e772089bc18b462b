package chassis

import (
	"context"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	scannerv1 "github.com/scoutbridge/scoutbridge/gen/scoutbridge/scanner/v1"
	"github.com/scoutbridge/scoutbridge/pkg/config"
	"github.com/scoutbridge/scoutbridge/pkg/grpcclient"
	"github.com/scoutbridge/scoutbridge/pkg/telemetry"
	"github.com/scoutbridge/scoutbridge/pkg/testutil"
)

// infoService answers GetScannerInfo by asking next (when set), or panics when told to.
type infoService struct {
	scannerv1.UnimplementedScannerServiceServer
	next  scannerv1.ScannerServiceClient
	panic bool
	spans chan trace.SpanContext
}

func (s *infoService) GetScannerInfo(ctx context.Context, req *scannerv1.GetScannerInfoRequest) (*scannerv1.GetScannerInfoResponse, error) {
	if s.panic {
		panic("boom")
	}
	if s.spans != nil {
		s.spans <- trace.SpanContextFromContext(ctx)
	}
	if s.next != nil {
		return s.next.GetScannerInfo(ctx, req)
	}
	return &scannerv1.GetScannerInfoResponse{Backend: "test"}, nil
}

func TestRunServesHealthAndStopsCleanlyWithAnOpenStream(t *testing.T) {
	addr := testutil.FreeAddr(t)
	ctx, stop := context.WithCancel(t.Context())
	exit := make(chan int, 1)
	var shutdownRan bool
	go func() {
		exit <- Run(ctx, Program{
			Name: "test", DefaultListen: addr,
			Setup: func(_ context.Context, app *App) error {
				scannerv1.RegisterScannerServiceServer(app.GRPC, &infoService{})
				app.OnShutdown(func(context.Context) { shutdownRan = true })
				return nil
			},
		}, nil, io.Discard)
	}()
	testutil.WaitServing(t, addr)
	conn := testutil.Dial(t, addr)
	hc := healthpb.NewHealthClient(conn)
	resp, err := hc.Check(t.Context(), &healthpb.HealthCheckRequest{Service: "scoutbridge.scanner.v1.ScannerService"})
	if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("service health: %v %v", resp, err)
	}
	watch, err := hc.Watch(t.Context(), &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := watch.Recv(); err != nil {
		t.Fatal(err)
	}

	start := time.Now()
	stop() // as SIGTERM does
	select {
	case code := <-exit:
		if code != 0 {
			t.Fatalf("exit code %d, want 0", code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("did not stop within 10s with a stream open")
	}
	if !shutdownRan {
		t.Fatal("OnShutdown cleanup did not run")
	}
	t.Logf("stopped in %s", time.Since(start))
}

func TestInvalidSettingExitsTwoNamingIt(t *testing.T) {
	var out strings.Builder
	code := Run(t.Context(), Program{Name: "test", DefaultListen: ":0", Config: func(s *config.Set) {
		var n int
		s.Int(&n, "SCAN_CONCURRENCY", 4, "")
	}}, []string{"-scan-concurrency", "many"}, &out)
	if code != 2 || !strings.Contains(out.String(), "SCAN_CONCURRENCY") || strings.Count(strings.TrimSpace(out.String()), "\n") != 0 {
		t.Fatalf("exit %d, output %q", code, out.String())
	}
}

func TestHealthcheckFlag(t *testing.T) {
	addr := testutil.FreeAddr(t)
	if code := Run(t.Context(), Program{Name: "test", DefaultListen: addr}, []string{"-healthcheck"}, io.Discard); code != 1 {
		t.Fatalf("healthcheck against nothing: exit %d, want 1", code)
	}
	ctx, stop := context.WithCancel(t.Context())
	defer stop()
	go Run(ctx, Program{Name: "test", DefaultListen: addr}, nil, io.Discard)
	testutil.WaitServing(t, addr)
	if code := Run(t.Context(), Program{Name: "test", DefaultListen: addr}, []string{"-healthcheck"}, io.Discard); code != 0 {
		t.Fatalf("healthcheck against a serving server: exit %d, want 0", code)
	}
}

func TestPanicBecomesInternal(t *testing.T) {
	srv, _ := NewGRPCServer(slog.New(slog.NewTextHandler(io.Discard, nil)))
	scannerv1.RegisterScannerServiceServer(srv, &infoService{panic: true})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(lis)
	defer srv.Stop()
	_, err = scannerv1.NewScannerServiceClient(testutil.Dial(t, lis.Addr().String())).GetScannerInfo(t.Context(), &scannerv1.GetScannerInfoRequest{})
	if status.Code(err) != codes.Internal || strings.Contains(err.Error(), "boom") {
		t.Fatalf("got %v, want Internal without the panic value", err)
	}
}

func TestTraceContinuesIntoAnotherService(t *testing.T) {
	tp := telemetry.NewTestProvider()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	start := func(svc *infoService) string {
		srv, _ := NewGRPCServer(logger)
		scannerv1.RegisterScannerServiceServer(srv, svc)
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		go srv.Serve(lis)
		t.Cleanup(srv.Stop)
		return lis.Addr().String()
	}
	seen := make(chan trace.SpanContext, 2)
	addrB := start(&infoService{spans: seen})
	connB, err := grpcclient.New(addrB)
	if err != nil {
		t.Fatal(err)
	}
	defer connB.Close()
	addrA := start(&infoService{next: scannerv1.NewScannerServiceClient(connB), spans: seen})
	connA, err := grpcclient.New(addrA)
	if err != nil {
		t.Fatal(err)
	}
	defer connA.Close()

	ctx, span := tp.Tracer("test").Start(t.Context(), "root")
	if _, err := scannerv1.NewScannerServiceClient(connA).GetScannerInfo(ctx, &scannerv1.GetScannerInfoRequest{}); err != nil {
		t.Fatal(err)
	}
	span.End()
	a, b := <-seen, <-seen
	want := span.SpanContext().TraceID()
	if a.TraceID() != want || b.TraceID() != want {
		t.Fatalf("trace ids: root %s, service A %s, service B %s", want, a.TraceID(), b.TraceID())
	}
	var servers int
	for _, s := range tp.Spans() {
		if s.SpanKind == trace.SpanKindServer && s.SpanContext.TraceID() == want {
			servers++
		}
	}
	if servers != 2 {
		t.Fatalf("server spans in the trace: %d, want 2", servers)
	}
}

var _ grpc.ServiceRegistrar = (*grpc.Server)(nil)
