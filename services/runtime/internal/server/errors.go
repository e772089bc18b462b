package server

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// errBadRequest marks caller mistakes.
var errBadRequest = errors.New("bad request")

func badRequest(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errBadRequest, fmt.Sprintf(format, args...))
}

// errUpstream marks a dependency (ingest) that could not be reached.
var errUpstream = errors.New("upstream unavailable")

// toStatus maps a domain error to a status, in one place. Internal details stay in the log.
func (s *Server) toStatus(ctx context.Context, method string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, errBadRequest):
		return status.Error(codes.InvalidArgument, err.Error())
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, "canceled")
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, "deadline exceeded")
	case errors.Is(err, errUpstream):
		s.logger.WarnContext(ctx, "call failed", "method", method, "error", err.Error())
		return status.Error(codes.Unavailable, "ingest is unavailable; retry later")
	default:
		s.logger.ErrorContext(ctx, "call failed", "method", method, "error", err.Error())
		return status.Error(codes.Internal, "internal error (the server log has the details)")
	}
}
