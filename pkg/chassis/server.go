package chassis

import (
	"context"
	"log/slog"
	"runtime/debug"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc/filters"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"
)

// NewGRPCServer returns a gRPC server with what every scoutbridge service has: health, reflection,
// OpenTelemetry (health checks left out of traces) and panic recovery. Main uses it; in-process tests
// use it too so that they exercise the same server.
func NewGRPCServer(logger *slog.Logger, opts ...grpc.ServerOption) (*grpc.Server, *health.Server) {
	return newGRPCServer(logger, context.Background(), opts...)
}

// newGRPCServer is NewGRPCServer whose streaming calls end when stopping is cancelled.
func newGRPCServer(logger *slog.Logger, stopping context.Context, opts ...grpc.ServerOption) (*grpc.Server, *health.Server) {
	base := []grpc.ServerOption{
		// Clients re-resolve a name only when a connection ends, so a connection is retired now and then:
		// a scanner host added to DNS gets calls within maxConnectionAge. Calls in flight finish on the
		// old connection (no grace deadline: a scan may take SCANNER_TIMEOUT).
		grpc.KeepaliveParams(keepalive.ServerParameters{MaxConnectionAge: maxConnectionAge}),
		grpc.StatsHandler(otelgrpc.NewServerHandler(otelgrpc.WithFilter(filters.Not(filters.HealthCheck())))),
		grpc.ChainUnaryInterceptor(recoverUnary(logger)),
		grpc.ChainStreamInterceptor(recoverStream(logger), endStreamsWhen(stopping)),
	}
	srv := grpc.NewServer(append(base, opts...)...)
	hs := health.NewServer()
	healthpb.RegisterHealthServer(srv, hs)
	reflection.Register(srv)
	return srv, hs
}

// maxConnectionAge is how long a client connection lives before the server asks the client to reconnect.
const maxConnectionAge = 5 * time.Minute

// errPanic is what a caller sees when a handler panics: the details go to the log, not the wire.
var errPanic = status.Error(codes.Internal, "internal error (the server log has the details)")

func recoverUnary(logger *slog.Logger) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
		defer func() {
			if r := recover(); r != nil {
				logger.ErrorContext(ctx, "panic in handler", "method", info.FullMethod, "panic", r, "stack", string(debug.Stack()))
				resp, err = nil, errPanic
			}
		}()
		return handler(ctx, req)
	}
}

func recoverStream(logger *slog.Logger) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) (err error) {
		defer func() {
			if r := recover(); r != nil {
				logger.ErrorContext(ss.Context(), "panic in handler", "method", info.FullMethod, "panic", r, "stack", string(debug.Stack()))
				err = errPanic
			}
		}()
		return handler(srv, ss)
	}
}

// endStreamsWhen cancels the context of every open stream once stopping ends, so that long-lived
// streams (WatchRun, DiscoverImages) finish and GracefulStop does not wait for the hard deadline.
func endStreamsWhen(stopping context.Context) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		ctx, cancel := context.WithCancel(ss.Context())
		defer cancel()
		defer context.AfterFunc(stopping, cancel)()
		return handler(srv, &streamWithContext{ServerStream: ss, ctx: ctx})
	}
}

type streamWithContext struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *streamWithContext) Context() context.Context { return s.ctx }
