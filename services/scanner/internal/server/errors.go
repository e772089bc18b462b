package server

import (
	"context"
	"errors"
	"log/slog"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	scannerv1 "github.com/scoutbridge/scoutbridge/gen/scoutbridge/scanner/v1"
	"github.com/scoutbridge/scoutbridge/services/scanner/internal/scan"
	"github.com/scoutbridge/scoutbridge/services/scanner/internal/scout"
)

// Code is the gRPC code of a domain error. The orchestrator retries only Unavailable and
// ResourceExhausted, so only transient conditions may map to them.
func Code(err error) codes.Code {
	var se *scout.Error
	switch {
	case errors.Is(err, scan.ErrInvalid):
		return codes.InvalidArgument
	case errors.Is(err, scan.ErrQueueFull):
		return codes.ResourceExhausted
	case errors.Is(err, scan.ErrStopping):
		return codes.Unavailable
	case errors.Is(err, scan.ErrBadReport):
		return codes.Internal
	case errors.As(err, &se):
		switch se.Class {
		case scout.ClassPrecondition, scout.ClassPluginMissing:
			return codes.FailedPrecondition
		case scout.ClassNotFound:
			return codes.NotFound
		case scout.ClassPermissionDenied:
			return codes.PermissionDenied
		case scout.ClassUnavailable:
			return codes.Unavailable
		case scout.ClassTimeout:
			return codes.DeadlineExceeded
		case scout.ClassCanceled:
			return codes.Canceled
		default:
			return codes.Internal
		}
	case errors.Is(err, context.DeadlineExceeded):
		return codes.DeadlineExceeded
	case errors.Is(err, context.Canceled):
		return codes.Canceled
	}
	return codes.Internal
}

// status builds the status error for a failed scan and logs it. Messages are built from Scout's
// reason and a cleaned stderr excerpt (ANSI stripped, secrets redacted); internals of this service
// never reach the caller.
func (s *Server) status(ctx context.Context, req *scannerv1.ScanImageRequest, err error) error {
	code := Code(err)
	msg := err.Error()
	var se *scout.Error
	if errors.As(err, &se) && se.Stderr != "" && code == codes.Internal {
		msg += "\nstderr:\n" + se.Stderr
	}
	level := slog.LevelWarn
	if code == codes.InvalidArgument || code == codes.Canceled {
		level = slog.LevelInfo
	}
	attrs := []any{"code", code.String(), "repository", req.GetImage().GetRepository(), "digest", req.GetImage().GetDigest(), "error", err.Error()}
	if se != nil {
		attrs = append(attrs, "exit_code", se.ExitCode, "class", se.Class.String(), "stderr", se.Stderr)
	}
	s.logger.Log(ctx, level, "scan failed", attrs...)
	return status.Error(code, msg)
}
