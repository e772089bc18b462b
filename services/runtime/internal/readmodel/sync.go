package readmodel

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"google.golang.org/grpc"

	ingestv1 "github.com/scoutbridge/scoutbridge/gen/scoutbridge/ingest/v1"
	"github.com/scoutbridge/scoutbridge/pkg/retry"
)

// Exporter is the part of the ingest client the read model follows.
type Exporter interface {
	ExportFindings(ctx context.Context, in *ingestv1.ExportFindingsRequest, opts ...grpc.CallOption) (*ingestv1.ExportFindingsResponse, error)
}

// exportBatch is how many findings one ExportFindings call asks for.
const exportBatch = 5000

// Sync pulls every finding ingest stored after the last applied sequence, batch by batch, and returns
// how many it applied. A failure keeps what was applied before it.
func (s *Store) Sync(ctx context.Context, exp Exporter) (int, error) {
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	total := 0
	for {
		after := s.LastSequence()
		resp, err := exp.ExportFindings(ctx, &ingestv1.ExportFindingsRequest{AfterSequence: after, Limit: exportBatch})
		if err != nil {
			return total, fmt.Errorf("export findings after %d: %w", after, err)
		}
		batch := make([]Report, 0, len(resp.GetFindings()))
		for _, f := range resp.GetFindings() {
			batch = append(batch, FromRecord(f))
		}
		if err := s.Apply(ctx, batch); err != nil {
			return total, fmt.Errorf("apply findings after %d: %w", after, err)
		}
		total += len(batch)
		if len(batch) == 0 || s.LastSequence() >= resp.GetLastSequence() {
			return total, nil
		}
	}
}

// FromRecord converts an exported finding.
func FromRecord(f *ingestv1.FindingRecord) Report {
	return Report{
		Sequence: f.GetSequence(), Registry: f.GetRegistry(), Repository: f.GetRepository(), Digest: f.GetDigest(),
		Tags: f.GetTags(), PlatformDigests: f.GetPlatformDigests(), VulnerabilityID: f.GetVulnerabilityId(),
		Title: f.GetTitle(), Provider: f.GetProvider(), PackageName: f.GetPackageName(), PackageVersion: f.GetPackageVersion(),
		RiskLevel: f.GetRiskLevel(), RiskScore: f.GetRiskScore(), FixedVersions: f.GetFixedVersions(),
		DetectedAt: f.GetDetectedAt().AsTime(),
	}
}

// Follow syncs every interval until ctx ends; failures are logged and retried with backoff.
func (s *Store) Follow(ctx context.Context, exp Exporter, interval time.Duration, logger *slog.Logger) error {
	failures := 0
	for {
		n, err := s.Sync(ctx, exp)
		wait := interval
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case err != nil:
			wait = min(retry.Default.Delay(failures), interval*4)
			failures++
			logger.WarnContext(ctx, "following ingest failed; retrying", "error", err.Error(), "retry_in", wait.String())
		default:
			failures = 0
			if n > 0 {
				logger.InfoContext(ctx, "findings synced from ingest", "count", n, "last_sequence", s.LastSequence())
			}
		}
		if err := retry.Sleep(ctx, wait); err != nil {
			return err
		}
	}
}
