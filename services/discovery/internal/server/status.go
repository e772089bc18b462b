package server

import (
	"context"
	"errors"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/scoutbridge/scoutbridge/services/discovery/internal/discover"
)

// toStatus is the one place where discovery errors become gRPC statuses. Messages are the wrapped
// error text: it names the namespace, repository and HTTP path, never a credential (the hub client
// never puts one into an error).
func toStatus(err error) *status.Status {
	if st, ok := status.FromError(err); ok {
		return st
	}
	code := codes.Internal
	switch {
	case errors.Is(err, context.Canceled):
		code = codes.Canceled
	case errors.Is(err, context.DeadlineExceeded):
		code = codes.DeadlineExceeded
	case errors.Is(err, discover.ErrInvalid):
		code = codes.InvalidArgument
	case errors.Is(err, discover.ErrNoNamespaces):
		code = codes.FailedPrecondition
	case errors.Is(err, discover.ErrUnauthenticated):
		code = codes.Unauthenticated
	case errors.Is(err, discover.ErrPermissionDenied):
		code = codes.PermissionDenied
	case errors.Is(err, discover.ErrNotFound):
		code = codes.NotFound
	case errors.Is(err, discover.ErrRateLimited):
		code = codes.ResourceExhausted
	case errors.Is(err, discover.ErrUnavailable):
		code = codes.Unavailable
	}
	return status.New(code, err.Error())
}

// codeName is the NamespaceError.code spelling: "UNAVAILABLE", "PERMISSION_DENIED".
func codeName(c codes.Code) string {
	if c == codes.OK {
		return "OK"
	}
	var b strings.Builder
	for i, r := range c.String() {
		if i > 0 && r >= 'A' && r <= 'Z' {
			b.WriteByte('_')
		}
		b.WriteRune(r)
	}
	return strings.ToUpper(b.String())
}
