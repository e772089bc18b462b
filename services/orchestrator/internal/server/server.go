// Package server is the OrchestratorService gRPC API: it checks the control token, turns requests into
// calls on package run and runs back into protobuf, and maps domain errors to status codes in one place
// (errors.go).
package server

import (
	"context"
	"log/slog"
	"strconv"

	orchestratorv1 "github.com/scoutbridge/scoutbridge/gen/scoutbridge/orchestrator/v1"
	"github.com/scoutbridge/scoutbridge/pkg/config"
	"github.com/scoutbridge/scoutbridge/services/orchestrator/internal/run"
)

// Server implements orchestratorv1.OrchestratorServiceServer.
type Server struct {
	orchestratorv1.UnimplementedOrchestratorServiceServer
	o     *run.Orchestrator
	token config.Secret
	log   *slog.Logger
}

// New returns the API over o. When token is set, StartRun and CancelRun require it.
func New(o *run.Orchestrator, token config.Secret, log *slog.Logger) *Server {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Server{o: o, token: token, log: log}
}

// StartRun starts a run now.
func (s *Server) StartRun(ctx context.Context, req *orchestratorv1.StartRunRequest) (*orchestratorv1.StartRunResponse, error) {
	if err := s.authorize(ctx); err != nil {
		return nil, err
	}
	r := run.Request{Namespaces: req.GetNamespaces(), DryRun: req.GetDryRun(), ForceRescan: req.GetForceRescan(), Trigger: run.TriggerAPI}
	if req.GetPushedAfter() != nil {
		if err := req.GetPushedAfter().CheckValid(); err != nil {
			return nil, invalid("pushed_after: %v", err)
		}
		r.PushedAfter = req.GetPushedAfter().AsTime()
	}
	if req.GetPushedBefore() != nil {
		if err := req.GetPushedBefore().CheckValid(); err != nil {
			return nil, invalid("pushed_before: %v", err)
		}
		r.PushedBefore = req.GetPushedBefore().AsTime()
	}
	for _, ns := range r.Namespaces {
		if ns == "" {
			return nil, invalid("namespaces: empty namespace name")
		}
	}
	started, err := s.o.Start(ctx, r)
	if err != nil {
		return nil, s.toStatus(ctx, err)
	}
	return &orchestratorv1.StartRunResponse{Run: runToProto(started)}, nil
}

// GetRun returns one run and every image's state.
func (s *Server) GetRun(ctx context.Context, req *orchestratorv1.GetRunRequest) (*orchestratorv1.GetRunResponse, error) {
	if req.GetRunId() == "" {
		return nil, invalid("run_id is required")
	}
	r, err := s.o.Get(ctx, req.GetRunId())
	if err != nil {
		return nil, s.toStatus(ctx, err)
	}
	images, err := s.o.Images(ctx, req.GetRunId())
	if err != nil {
		return nil, s.toStatus(ctx, err)
	}
	resp := &orchestratorv1.GetRunResponse{Run: runToProto(r), Images: make([]*orchestratorv1.RunImage, 0, len(images))}
	for _, img := range images {
		resp.Images = append(resp.Images, imageToProto(img))
	}
	return resp, nil
}

// ListRuns pages through runs, newest first.
func (s *Server) ListRuns(ctx context.Context, req *orchestratorv1.ListRunsRequest) (*orchestratorv1.ListRunsResponse, error) {
	size := int(req.GetPageSize())
	switch {
	case size < 0:
		return nil, invalid("page_size must not be negative")
	case size == 0:
		size = 20
	case size > 100:
		size = 100
	}
	var before int64
	if t := req.GetPageToken(); t != "" {
		n, err := strconv.ParseInt(t, 10, 64)
		if err != nil || n <= 0 {
			return nil, invalid("page_token is not a token this service gave out")
		}
		before = n
	}
	runs, err := s.o.List(ctx, before, size+1)
	if err != nil {
		return nil, s.toStatus(ctx, err)
	}
	resp := &orchestratorv1.ListRunsResponse{}
	if len(runs) > size {
		runs = runs[:size]
		resp.NextPageToken = strconv.FormatInt(runs[size-1].Seq, 10)
	}
	for _, r := range runs {
		resp.Runs = append(resp.Runs, runToProto(r))
	}
	return resp, nil
}

// WatchRun streams a snapshot, then the run's events until it finishes.
func (s *Server) WatchRun(req *orchestratorv1.WatchRunRequest, stream orchestratorv1.OrchestratorService_WatchRunServer) error {
	ctx := stream.Context()
	err := s.o.Watch(ctx, req.GetRunId(), func(ev run.Event) error {
		return stream.Send(eventToProto(ev))
	})
	if err != nil {
		return s.toStatus(ctx, err)
	}
	return nil
}

// CancelRun stops a running run.
func (s *Server) CancelRun(ctx context.Context, req *orchestratorv1.CancelRunRequest) (*orchestratorv1.CancelRunResponse, error) {
	if err := s.authorize(ctx); err != nil {
		return nil, err
	}
	if req.GetRunId() == "" {
		return nil, invalid("run_id is required")
	}
	r, err := s.o.Cancel(ctx, req.GetRunId())
	if err != nil {
		return nil, s.toStatus(ctx, err)
	}
	return &orchestratorv1.CancelRunResponse{Run: runToProto(r)}, nil
}
