package server

import (
	"context"
	"errors"
	"log/slog"

	"github.com/scoutbridge/scoutbridge/services/ingest/internal/semdict"
	"github.com/scoutbridge/scoutbridge/services/ingest/internal/store"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// errInvalid marks bad request input that is not a mapping error.
type errInvalid string

func (e errInvalid) Error() string { return string(e) }

// toStatus is the one place that maps domain errors to gRPC status codes. Internal errors are logged
// with the call's trace context and answered without their details.
func toStatus(ctx context.Context, log *slog.Logger, op string, err error) error {
	if err == nil {
		return nil
	}
	var fe *semdict.FieldError
	var inv errInvalid
	switch {
	case errors.As(err, &fe):
		return status.Errorf(codes.InvalidArgument, "the report would yield an invalid event: %v", fe)
	case errors.As(err, &inv):
		return status.Error(codes.InvalidArgument, inv.Error())
	case errors.Is(err, store.ErrBadPageToken):
		return status.Error(codes.InvalidArgument, "invalid page_token: pass next_page_token of a previous response")
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, "request canceled")
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, "deadline exceeded")
	}
	log.ErrorContext(ctx, op+" failed", "error", err.Error())
	return status.Errorf(codes.Unavailable, "%s failed: the store is unavailable; retry later", op)
}
