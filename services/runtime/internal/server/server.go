// Package server is the gRPC face of the runtime service (scoutbridge.triage.v1.TriageService): it
// turns requests into read-model queries over the inventory and back into protobuf.
package server

import (
	"context"
	"encoding/base64"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	imagev1 "github.com/scoutbridge/scoutbridge/gen/scoutbridge/image/v1"
	triagev1 "github.com/scoutbridge/scoutbridge/gen/scoutbridge/triage/v1"
	"github.com/scoutbridge/scoutbridge/services/runtime/internal/inventory"
	"github.com/scoutbridge/scoutbridge/services/runtime/internal/readmodel"
)

// Inventory is what the server needs of the runtime inventory.
type Inventory interface {
	readmodel.Runtime
	Images(asOf time.Time) []inventory.Image
	Health() []inventory.Health
}

// Notifier queues rows for the webhooks.
type Notifier interface {
	Enqueue(ctx context.Context, rows []readmodel.Row) (int, error)
}

// Syncer catches the read model up with ingest.
type Syncer func(ctx context.Context) error

// Server implements TriageService.
type Server struct {
	triagev1.UnimplementedTriageServiceServer
	store    *readmodel.Store
	inv      Inventory
	notifier Notifier
	sync     Syncer
	logger   *slog.Logger
	now      func() time.Time
}

// New returns the server. notifier and sync may be nil.
func New(store *readmodel.Store, inv Inventory, notifier Notifier, sync Syncer, logger *slog.Logger) *Server {
	return &Server{store: store, inv: inv, notifier: notifier, sync: sync, logger: logger, now: time.Now}
}

// SetClock replaces the clock (tests).
func (s *Server) SetClock(now func() time.Time) { s.now = now }

const (
	defaultPageSize = 100
	maxPageSize     = 1000
)

func (s *Server) params(p *triagev1.PrioritizationParams) (readmodel.Params, error) {
	var out readmodel.Params
	if p == nil {
		return out.WithDefaults(s.now()), nil
	}
	if d := p.GetLookback(); d != nil {
		if err := d.CheckValid(); err != nil || d.AsDuration() < 0 {
			return out, badRequest("params.lookback must be a positive duration")
		}
		out.Lookback = d.AsDuration()
	}
	if d := p.GetNewWithin(); d != nil {
		if err := d.CheckValid(); err != nil || d.AsDuration() < 0 {
			return out, badRequest("params.new_within must be a positive duration")
		}
		out.NewWithin = d.AsDuration()
	}
	for _, l := range p.GetRiskLevels() {
		if _, ok := imagev1.RiskLevel_name[int32(l)]; !ok {
			return out, badRequest("params.risk_levels: unknown level %d", l)
		}
		out.Levels = append(out.Levels, l)
	}
	for _, st := range p.GetStages() {
		if st == "" {
			return out, badRequest("params.stages: empty stage name")
		}
		out.Stages = append(out.Stages, st)
	}
	out.IncludeNotRunning, out.IncludeNotNew = p.GetIncludeNotRunning(), p.GetIncludeNotNew()
	if t := p.GetAsOf(); t != nil {
		if err := t.CheckValid(); err != nil {
			return out, badRequest("params.as_of is not a valid time")
		}
		out.AsOf = t.AsTime()
	}
	out = out.WithDefaults(s.now())
	if out.NewWithin > out.Lookback {
		return out, badRequest("params.new_within (%s) must not exceed params.lookback (%s)", out.NewWithin, out.Lookback)
	}
	return out, nil
}

// ListPrioritizedFindings answers one page of rows.
func (s *Server) ListPrioritizedFindings(ctx context.Context, req *triagev1.ListPrioritizedFindingsRequest) (*triagev1.ListPrioritizedFindingsResponse, error) {
	const method = "ListPrioritizedFindings"
	p, err := s.params(req.GetParams())
	if err != nil {
		return nil, s.toStatus(ctx, method, err)
	}
	size := int(req.GetPageSize())
	switch {
	case size < 0:
		return nil, s.toStatus(ctx, method, badRequest("page_size must not be negative"))
	case size == 0:
		size = defaultPageSize
	case size > maxPageSize:
		size = maxPageSize
	}
	offset := 0
	if tok := req.GetPageToken(); tok != "" {
		b, err := base64.RawURLEncoding.DecodeString(tok)
		n, err2 := strconv.Atoi(string(b))
		if err != nil || err2 != nil || n < 0 {
			return nil, s.toStatus(ctx, method, badRequest("page_token is not a token this service returned"))
		}
		offset = n
	}
	rows, total := s.store.PrioritizedPage(p, s.inv, offset, size)
	resp := &triagev1.ListPrioritizedFindingsResponse{TotalCount: int64(total)}
	for _, r := range rows {
		resp.Findings = append(resp.Findings, RowProto(r))
	}
	if end := offset + len(rows); end < total {
		resp.NextPageToken = base64.RawURLEncoding.EncodeToString([]byte(strconv.Itoa(end)))
	}
	return resp, nil
}

// GetAlertReduction answers the funnel.
func (s *Server) GetAlertReduction(ctx context.Context, req *triagev1.GetAlertReductionRequest) (*triagev1.GetAlertReductionResponse, error) {
	p, err := s.params(req.GetParams())
	if err != nil {
		return nil, s.toStatus(ctx, "GetAlertReduction", err)
	}
	f := s.store.AlertReduction(p, s.inv)
	resp := &triagev1.GetAlertReductionResponse{RegistryDigests: f.RegistryDigests, RuntimeDigests: f.RuntimeDigests, ProductionDigests: f.ProductionDigests}
	for _, st := range f.Stages {
		resp.Stages = append(resp.Stages, &triagev1.FunnelStage{Name: st.Name, Vulnerabilities: st.Vulnerabilities, Findings: st.Findings, ImageDigests: st.ImageDigests})
	}
	return resp, nil
}

// ListRuntimeImages answers the inventory and the sources' health.
func (s *Server) ListRuntimeImages(_ context.Context, _ *triagev1.ListRuntimeImagesRequest) (*triagev1.ListRuntimeImagesResponse, error) {
	resp := &triagev1.ListRuntimeImagesResponse{}
	for _, im := range s.inv.Images(s.now()) {
		ri := &triagev1.RuntimeImage{Digest: im.Digest, ImageName: im.ImageName}
		for _, c := range im.Containers {
			ri.Containers = append(ri.Containers, ContainerProto(c))
		}
		resp.Images = append(resp.Images, ri)
	}
	for _, h := range s.inv.Health() {
		sh := &triagev1.SourceHealth{Name: h.Name, Healthy: h.Healthy, LastError: h.LastError, Containers: int64(h.Containers)}
		if !h.LastSuccess.IsZero() {
			sh.LastSuccess = timestamppb.New(h.LastSuccess)
		}
		resp.Sources = append(resp.Sources, sh)
	}
	return resp, nil
}

// NotifyNewFindings catches up with ingest, then queues the new prioritized rows (default parameters)
// for every webhook that has not had them.
func (s *Server) NotifyNewFindings(ctx context.Context, _ *triagev1.NotifyNewFindingsRequest) (*triagev1.NotifyNewFindingsResponse, error) {
	rows, queued, err := NotifyNew(ctx, s.store, s.inv, s.notifier, s.sync, s.now())
	if err != nil {
		return nil, s.toStatus(ctx, "NotifyNewFindings", err)
	}
	return &triagev1.NotifyNewFindingsResponse{Rows: int64(rows), NotificationsQueued: int64(queued)}, nil
}

// NotifyNew is NotifyNewFindings for callers inside the service (after every inventory poll).
func NotifyNew(ctx context.Context, store *readmodel.Store, rt readmodel.Runtime, n Notifier, sync Syncer, now time.Time) (rows, queued int, err error) {
	if sync != nil {
		if err := sync(ctx); err != nil {
			return 0, 0, fmt.Errorf("%w: %v", errUpstream, err)
		}
	}
	found := store.Prioritized(readmodel.Params{}.WithDefaults(now), rt)
	if n == nil {
		return len(found), 0, nil
	}
	queued, err = n.Enqueue(ctx, found)
	return len(found), queued, err
}

// RowProto converts a row.
func RowProto(r readmodel.Row) *triagev1.PrioritizedFinding {
	out := &triagev1.PrioritizedFinding{RowId: r.RowID, VulnerabilityId: r.VulnerabilityID, Title: r.Title, Provider: r.Provider,
		Registry: r.Registry, Repository: r.Repository, PackageName: r.PackageName, PackageVersion: r.PackageVersion,
		RiskLevel: r.RiskLevel, RiskScore: r.RiskScore, AffectedImagesCount: int64(len(r.Images)),
		FirstSeen: timestamppb.New(r.FirstSeen), LastSeen: timestamppb.New(r.LastSeen), New: r.New, FixedVersions: r.FixedVersions}
	for _, im := range r.Images {
		ai := &triagev1.AffectedImage{Digest: im.Digest, Tags: im.Tags}
		for _, c := range im.Containers {
			ai.Containers = append(ai.Containers, ContainerProto(c))
		}
		out.Images = append(out.Images, ai)
	}
	return out
}

// ContainerProto converts a container.
func ContainerProto(c inventory.Container) *triagev1.Container {
	out := &triagev1.Container{Name: c.Name, Workload: c.Workload, Namespace: c.Namespace, Host: c.Host, State: c.State,
		ReleaseStage: readmodel.StageName(c.Stage), Product: c.Product, Source: c.Source, ImageDigest: c.ImageDigest, ImageName: c.ImageName}
	if !c.LastSeen.IsZero() {
		out.LastSeen = timestamppb.New(c.LastSeen)
	}
	return out
}
