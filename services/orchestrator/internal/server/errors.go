package server

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/scoutbridge/scoutbridge/services/orchestrator/internal/run"
)

func invalid(format string, args ...any) error {
	return status.Errorf(codes.InvalidArgument, format, args...)
}

// toStatus maps a domain error to a status: the one place that does. Unexpected errors (the database)
// are logged with the trace id and answered as Internal without details.
func (s *Server) toStatus(ctx context.Context, err error) error {
	var running *run.RunningError
	var bad *run.InvalidRequestError
	switch {
	case errors.As(err, &running):
		return status.Error(codes.FailedPrecondition, fmt.Sprintf("run %s is running; watch it, wait for it or cancel it", running.RunID))
	case errors.As(err, &bad):
		return status.Error(codes.InvalidArgument, bad.Reason)
	case errors.Is(err, run.ErrNotFound):
		return status.Error(codes.NotFound, err.Error())
	case errors.Is(err, run.ErrWatcherTooSlow):
		return status.Error(codes.ResourceExhausted, err.Error())
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, "call cancelled")
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, "deadline exceeded")
	}
	if st, ok := status.FromError(err); ok {
		return st.Err()
	}
	s.log.ErrorContext(ctx, "request failed", "error", err.Error())
	return status.Error(codes.Internal, "internal error (the orchestrator's log has the details)")
}
