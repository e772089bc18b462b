// Package server is the gRPC face of the ingest service: it turns protobuf requests into calls on the
// mapping (semdict), the store and the delivery senders, and their answers back into protobuf.
package server

import (
	"context"
	"log/slog"
	"time"

	ingestv1 "github.com/scoutbridge/scoutbridge/gen/scoutbridge/ingest/v1"
	"github.com/scoutbridge/scoutbridge/services/ingest/internal/delivery"
	"github.com/scoutbridge/scoutbridge/services/ingest/internal/semdict"
	"github.com/scoutbridge/scoutbridge/services/ingest/internal/store"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

var tracer = otel.Tracer("scoutbridge/ingest")

// Server implements ingestv1.IngestServiceServer.
type Server struct {
	ingestv1.UnimplementedIngestServiceServer
	store   *store.Store
	senders []*delivery.Sender
	sinks   []string
	log     *slog.Logger
	opt     semdict.Options
}

// New builds the server. senders are the configured sinks' senders (none: events stay in the store).
func New(st *store.Store, senders []*delivery.Sender, log *slog.Logger) *Server {
	s := &Server{store: st, senders: senders, log: log}
	for _, snd := range senders {
		s.sinks = append(s.sinks, snd.Name())
	}
	return s
}

// IngestScan maps the report, commits its events (which queues them for every sink), then wakes the senders.
func (s *Server) IngestScan(ctx context.Context, req *ingestv1.IngestScanRequest) (*ingestv1.IngestScanResponse, error) {
	ctx, span := tracer.Start(ctx, "ingest.IngestScan")
	defer span.End()
	b, err := semdict.Map(req.GetReport(), s.opt)
	if err != nil {
		return nil, toStatus(ctx, s.log, "IngestScan", err)
	}
	span.SetAttributes(attribute.String("scan.id", b.ScanID), attribute.String("container_image.repository", b.Repository),
		attribute.Int("findings", len(b.Findings)))
	res, err := s.store.Ingest(ctx, b, s.sinks)
	if err != nil {
		return nil, toStatus(ctx, s.log, "IngestScan", err)
	}
	for _, snd := range s.senders {
		snd.Wake()
	}
	out := &ingestv1.IngestScanResponse{ScanId: b.ScanID, EventsStored: res.EventsStored, EventsQueued: res.EventsQueued,
		Duplicate: res.Duplicate, Findings: &ingestv1.FindingCounts{}}
	if !res.Duplicate {
		c := b.Counts
		out.Findings = &ingestv1.FindingCounts{Critical: c.Critical, High: c.High, Medium: c.Medium, Low: c.Low, None: c.None}
	}
	span.AddEvent("stored", trace.WithAttributes(attribute.Bool("duplicate", res.Duplicate), attribute.Int64("events", res.EventsStored)))
	s.log.InfoContext(ctx, "scan ingested", "scan_id", b.ScanID, "image", b.Repository+"@"+b.Digest,
		"events_stored", res.EventsStored, "events_queued", res.EventsQueued, "duplicate", res.Duplicate)
	return out, nil
}

// ListFindings pages through stored findings, newest first.
func (s *Server) ListFindings(ctx context.Context, req *ingestv1.ListFindingsRequest) (*ingestv1.ListFindingsResponse, error) {
	if req.GetPageSize() < 0 {
		return nil, toStatus(ctx, s.log, "ListFindings", errInvalid("page_size must not be negative"))
	}
	f := store.Filter{Repository: req.GetRepository(), Digest: req.GetDigest(), VulnerabilityID: req.GetVulnerabilityId(),
		RiskLevel: req.GetRiskLevel(), Provider: req.GetProvider(), PageSize: int(req.GetPageSize()), PageToken: req.GetPageToken()}
	if req.GetDetectedAfter() != nil {
		f.DetectedAfter = req.GetDetectedAfter().AsTime()
	}
	if req.GetDetectedBefore() != nil {
		f.DetectedBefore = req.GetDetectedBefore().AsTime()
	}
	found, next, err := s.store.ListFindings(ctx, f)
	if err != nil {
		return nil, toStatus(ctx, s.log, "ListFindings", err)
	}
	out := &ingestv1.ListFindingsResponse{NextPageToken: next}
	for i := range found {
		out.Findings = append(out.Findings, record(&found[i]))
	}
	return out, nil
}

// ExportFindings returns findings after a sequence, ascending.
func (s *Server) ExportFindings(ctx context.Context, req *ingestv1.ExportFindingsRequest) (*ingestv1.ExportFindingsResponse, error) {
	if req.GetAfterSequence() < 0 || req.GetLimit() < 0 {
		return nil, toStatus(ctx, s.log, "ExportFindings", errInvalid("after_sequence and limit must not be negative"))
	}
	found, last, err := s.store.ExportFindings(ctx, req.GetAfterSequence(), int(req.GetLimit()))
	if err != nil {
		return nil, toStatus(ctx, s.log, "ExportFindings", err)
	}
	out := &ingestv1.ExportFindingsResponse{LastSequence: last}
	for i := range found {
		out.Findings = append(out.Findings, record(&found[i]))
	}
	return out, nil
}

// GetIngestStats reports store counters and each sink's delivery state.
func (s *Server) GetIngestStats(ctx context.Context, _ *ingestv1.GetIngestStatsRequest) (*ingestv1.GetIngestStatsResponse, error) {
	st, err := s.store.Stats(ctx)
	if err != nil {
		return nil, toStatus(ctx, s.log, "GetIngestStats", err)
	}
	out := &ingestv1.GetIngestStatsResponse{ScansStored: st.Scans, EventsStored: st.Events, FindingsStored: st.Findings}
	for _, snd := range s.senders {
		c, err := s.store.SinkCounts(ctx, snd.Name())
		if err != nil {
			return nil, toStatus(ctx, s.log, "GetIngestStats", err)
		}
		state, lastErr := snd.State()
		ss := &ingestv1.SinkStats{Name: snd.Name(), Queued: c.Queued, Sent: c.Sent, DeadLettered: c.DeadLettered,
			State: sinkState(state), LastError: lastErr, OldestQueuedAge: durationpb.New(0)}
		if !c.OldestQueued.IsZero() {
			ss.OldestQueuedAge = durationpb.New(max(time.Since(c.OldestQueued), 0))
		}
		out.Sinks = append(out.Sinks, ss)
	}
	return out, nil
}

// ListDeadLetters lists refused batches, oldest first.
func (s *Server) ListDeadLetters(ctx context.Context, req *ingestv1.ListDeadLettersRequest) (*ingestv1.ListDeadLettersResponse, error) {
	dls, next, err := s.store.ListDeadLetters(ctx, req.GetSink(), int(req.GetPageSize()), req.GetPageToken())
	if err != nil {
		return nil, toStatus(ctx, s.log, "ListDeadLetters", err)
	}
	out := &ingestv1.ListDeadLettersResponse{NextPageToken: next}
	for _, d := range dls {
		out.DeadLetters = append(out.DeadLetters, &ingestv1.DeadLetter{Id: d.ID, Sink: d.Sink, EventCount: d.EventCount,
			StatusCode: int32(d.StatusCode), Response: d.Response, CreatedAt: timestamppb.New(d.CreatedAt)})
	}
	return out, nil
}

// RedriveDeadLetters queues dead-lettered events again and wakes the senders.
func (s *Server) RedriveDeadLetters(ctx context.Context, req *ingestv1.RedriveDeadLettersRequest) (*ingestv1.RedriveDeadLettersResponse, error) {
	if len(req.GetIds()) == 0 && !req.GetAll() {
		return nil, toStatus(ctx, s.log, "RedriveDeadLetters", errInvalid("give ids, or all=true"))
	}
	n, err := s.store.Redrive(ctx, req.GetSink(), req.GetIds(), req.GetAll())
	if err != nil {
		return nil, toStatus(ctx, s.log, "RedriveDeadLetters", err)
	}
	for _, snd := range s.senders {
		snd.Wake()
	}
	s.log.InfoContext(ctx, "dead letters redriven", "events_requeued", n, "sink", req.GetSink())
	return &ingestv1.RedriveDeadLettersResponse{EventsRequeued: n}, nil
}

func sinkState(s delivery.State) ingestv1.SinkState {
	switch s {
	case delivery.OK:
		return ingestv1.SinkState_SINK_STATE_OK
	case delivery.Retrying:
		return ingestv1.SinkState_SINK_STATE_RETRYING
	case delivery.Paused:
		return ingestv1.SinkState_SINK_STATE_PAUSED
	}
	return ingestv1.SinkState_SINK_STATE_UNSPECIFIED
}

func record(f *store.Finding) *ingestv1.FindingRecord {
	return &ingestv1.FindingRecord{
		FindingId: f.FindingID, EventId: f.EventID, ScanId: f.ScanID, Registry: f.Registry, Repository: f.Repository,
		Digest: f.Digest, Tags: f.Tags, VulnerabilityId: f.VulnerabilityID, Title: f.Title, PackageName: f.PackageName,
		PackageVersion: f.PackageVersion, Purl: f.PURL, Severity: f.Severity, RiskLevel: f.RiskLevel, RiskScore: f.RiskScore,
		FixedVersions: f.FixedVersions, DetectedAt: timestamppb.New(f.DetectedAt), Provider: f.Provider,
		Sequence: f.Sequence, PlatformDigests: f.PlatformDigests,
	}
}
