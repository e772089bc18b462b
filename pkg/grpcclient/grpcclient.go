// Package grpcclient dials scoutbridge peers the one way they should be dialled: traced with
// OpenTelemetry (so a trace continues into the peer) and balanced round robin over every address the
// name resolves to (so SCANNER_ADDR can name several scanner hosts through DNS).
package grpcclient

import (
	"fmt"
	"strings"

	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

const roundRobin = `{"loadBalancingConfig": [{"round_robin": {}}]}`

// New returns a client connection to target ("host:port", or any gRPC target such as
// "dns:///scanner:7072"). A plain "host:port" is resolved with DNS, every address used.
func New(target string, opts ...grpc.DialOption) (*grpc.ClientConn, error) {
	if target == "" {
		return nil, fmt.Errorf("empty peer address")
	}
	if !strings.Contains(target, "://") {
		target = "dns:///" + target
	}
	base := []grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithStatsHandler(otelgrpc.NewClientHandler()),
		grpc.WithDefaultServiceConfig(roundRobin),
	}
	return grpc.NewClient(target, append(base, opts...)...)
}
