package server

import (
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	orchestratorv1 "github.com/scoutbridge/scoutbridge/gen/scoutbridge/orchestrator/v1"
	"github.com/scoutbridge/scoutbridge/services/orchestrator/internal/run"
)

func ts(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

func runToProto(r *run.Run) *orchestratorv1.Run {
	c := r.Counts
	p := &orchestratorv1.Run{
		RunId: r.ID, State: r.State, Trigger: r.Trigger, DryRun: r.DryRun, ForceRescan: r.ForceRescan,
		Namespaces: r.Namespaces, Error: r.Error, StartedAt: ts(r.StartedAt), FinishedAt: ts(r.FinishedAt),
		Duration: durationpb.New(r.Duration(time.Now())),
		Counts: &orchestratorv1.RunCounts{
			ImagesDiscovered: c.Discovered, ImagesScanned: c.Scanned, ImagesSkipped: c.Skipped, ImagesFailed: c.Failed,
			ImagesIngested: c.Ingested, FindingsCritical: c.Findings.Critical, FindingsHigh: c.Findings.High,
			FindingsMedium: c.Findings.Medium, FindingsLow: c.Findings.Low, FindingsNone: c.Findings.None,
			EventsStored: c.EventsStored, ScannedPushed: c.ScannedPushed, ScannedRunning: c.ScannedRunning,
			NamespacesFailed: c.NamespacesFailed,
		},
	}
	if !r.Window.IsZero() {
		p.Window = &orchestratorv1.Window{Start: ts(r.Window.Start), End: ts(r.Window.End)}
	}
	return p
}

func imageToProto(img *run.Image) *orchestratorv1.RunImage {
	return &orchestratorv1.RunImage{
		Registry: img.Image.GetRegistry(), Repository: img.Image.GetRepository(), Digest: img.Image.GetDigest(),
		Tags: img.Image.GetTags(), State: img.State, Reason: img.Reason, Attempts: int32(img.Attempts),
		Findings: img.Findings.Total(), ScanReason: img.ScanReason, UpdatedAt: ts(img.UpdatedAt),
	}
}

func eventToProto(ev run.Event) *orchestratorv1.WatchRunResponse {
	p := &orchestratorv1.WatchRunResponse{Type: ev.Type, Time: ts(ev.Time), Message: ev.Message}
	if ev.Image != nil {
		p.Image = imageToProto(ev.Image)
	}
	if ev.Run != nil {
		p.Run = runToProto(ev.Run)
	}
	return p
}
