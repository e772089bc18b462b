package server

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// authorize checks "authorization: Bearer <token>" when a token is configured. The comparison takes
// the same time whatever the guess (both sides are hashed first, so even the length does not leak),
// and no message ever contains what was sent.
func (s *Server) authorize(ctx context.Context) error {
	if !s.token.IsSet() {
		return nil
	}
	md, _ := metadata.FromIncomingContext(ctx)
	values := md.Get("authorization")
	if len(values) == 0 {
		return status.Error(codes.Unauthenticated, "this call needs the metadata \"authorization: Bearer <ORCHESTRATOR_TOKEN>\"")
	}
	got, ok := strings.CutPrefix(values[0], "Bearer ")
	if !ok {
		got, ok = strings.CutPrefix(values[0], "bearer ")
	}
	want := sha256.Sum256([]byte(s.token.Reveal()))
	have := sha256.Sum256([]byte(strings.TrimSpace(got)))
	if !ok || subtle.ConstantTimeCompare(want[:], have[:]) != 1 {
		return status.Error(codes.Unauthenticated, "the bearer token in \"authorization\" is not the orchestrator's token")
	}
	return nil
}
