// Package server is the gRPC face of discovery: it turns a DiscoverImagesRequest into a discover.Query,
// streams each discovered image as it is found, turns a failed namespace into a namespace_error entry,
// and maps every error to a gRPC status in one place (status.go).
package server

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/timestamppb"

	discoveryv1 "github.com/scoutbridge/scoutbridge/gen/scoutbridge/discovery/v1"
	imagev1 "github.com/scoutbridge/scoutbridge/gen/scoutbridge/image/v1"
	"github.com/scoutbridge/scoutbridge/services/discovery/internal/discover"
)

// Discoverer is the domain port the server needs.
type Discoverer interface {
	Discover(ctx context.Context, q discover.Query, emit func(discover.Entry) error) error
}

// Server implements discoveryv1.DiscoveryServiceServer.
type Server struct {
	discoveryv1.UnimplementedDiscoveryServiceServer
	discoverer Discoverer
	log        *slog.Logger
}

// New returns a Server.
func New(d Discoverer, log *slog.Logger) *Server {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Server{discoverer: d, log: log}
}

// DiscoverImages streams the images pushed inside the request's window.
func (s *Server) DiscoverImages(req *discoveryv1.DiscoverImagesRequest, stream discoveryv1.DiscoveryService_DiscoverImagesServer) error {
	ctx := stream.Context()
	q := discover.Query{
		Namespaces:          req.GetNamespaces(),
		Repositories:        req.GetRepositoryPatterns(),
		ExcludeRepositories: req.GetExcludeRepositoryPatterns(),
		Tags:                req.GetTagPatterns(),
		ExcludeTags:         req.GetExcludeTagPatterns(),
	}
	var err error
	if q.After, err = windowBound("pushed_after", req.GetPushedAfter()); err == nil {
		q.Before, err = windowBound("pushed_before", req.GetPushedBefore())
	}
	if err != nil {
		return toStatus(err).Err()
	}
	var images, failed int
	err = s.discoverer.Discover(ctx, q, func(e discover.Entry) error {
		if e.NamespaceError != nil {
			failed++
			st := toStatus(e.NamespaceError.Err)
			return stream.Send(&discoveryv1.DiscoverImagesResponse{Entry: &discoveryv1.DiscoverImagesResponse_NamespaceError{
				NamespaceError: &discoveryv1.NamespaceError{
					Namespace: e.NamespaceError.Namespace, Code: codeName(st.Code()), Message: st.Message(),
				},
			}})
		}
		images++
		return stream.Send(&discoveryv1.DiscoverImagesResponse{Entry: &discoveryv1.DiscoverImagesResponse_Image{Image: toProto(e.Image)}})
	})
	if err != nil {
		st := toStatus(err)
		level := slog.LevelWarn
		if st.Code() == codes.Canceled || st.Code() == codes.InvalidArgument {
			level = slog.LevelInfo // the caller's doing, not a problem of this service
		}
		s.log.Log(ctx, level, "discovery ended early", "code", st.Code().String(), "error", err.Error(), "images_sent", images)
		return st.Err()
	}
	s.log.InfoContext(ctx, "discovery finished", "images", images, "failed_namespaces", failed)
	return nil
}

// windowBound reads one end of the window; unset is the zero time. A timestamp outside what
// protobuf allows (nanos out of range, before year 1 or after 9999) would otherwise turn into a
// silently different time.
func windowBound(field string, ts *timestamppb.Timestamp) (time.Time, error) {
	if ts == nil {
		return time.Time{}, nil
	}
	if err := ts.CheckValid(); err != nil {
		return time.Time{}, fmt.Errorf("%w: %s: %v", discover.ErrInvalid, field, err)
	}
	return ts.AsTime(), nil
}

func toProto(img *discover.Image) *imagev1.Image {
	out := &imagev1.Image{
		Registry: img.Registry, Repository: img.Repository, Digest: img.Digest, Tags: img.Tags,
		MediaType: img.MediaType, PushedAt: timestamppb.New(img.PushedAt),
	}
	for _, p := range img.Platforms {
		out.Platforms = append(out.Platforms, &imagev1.Platform{Os: p.OS, Architecture: p.Architecture, Variant: p.Variant, Digest: p.Digest})
	}
	return out
}
