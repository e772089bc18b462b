// Package run is the orchestrator's domain: it plans runs (gapless push-time windows behind a
// persisted watermark, carried-over failures, running images due for re-evaluation), drives every image
// through scan and ingest with bounded concurrency and retries, survives restarts, and tells watchers
// what happens. It talks to its peers and its database through the small interfaces in ports.go, so it
// knows nothing of gRPC wiring or SQL.
package run

import (
	"time"

	imagev1 "github.com/scoutbridge/scoutbridge/gen/scoutbridge/image/v1"
	orchestratorv1 "github.com/scoutbridge/scoutbridge/gen/scoutbridge/orchestrator/v1"
	"github.com/scoutbridge/scoutbridge/pkg/risk"
)

// The life-cycle vocabulary is the API's own (generated enums, no gRPC in them): a second copy of the
// same seven words would only add a mapping to get wrong.
type (
	// State is a run's state.
	State = orchestratorv1.RunState
	// ImageState is where one image of a run stands.
	ImageState = orchestratorv1.ImageState
	// ScanReason says why an image is in a run.
	ScanReason = orchestratorv1.ScanReason
	// Trigger says who started a run.
	Trigger = orchestratorv1.Trigger
)

// Window is the half-open push-time range [Start, End). A zero Window (re-evaluation only runs) lists
// nothing.
type Window struct {
	Start, End time.Time
}

// IsZero reports whether the run has no push window.
func (w Window) IsZero() bool { return w.Start.IsZero() && w.End.IsZero() }

// Run is one pass of discover, scan, ingest.
type Run struct {
	ID      string
	Seq     int64 // position in creation order, for paging
	State   State
	Trigger Trigger
	Window  Window
	// DryRun: discovery only.
	DryRun bool
	// ForceRescan: scan digests even when they were scanned and ingested before.
	ForceRescan bool
	// Namespaces requested; empty: discovery's default scope.
	Namespaces []string
	// MovesWatermark is true for default-scope, default-window runs: only they may advance the watermark.
	MovesWatermark bool
	// RescanOnly runs re-evaluate running images and discover nothing.
	RescanOnly bool
	// DiscoveryDone is set once the window was listed and carried-over and running images were added,
	// so a resumed run does not list again.
	DiscoveryDone bool
	// NamespacesFailed counts namespaces discovery could not list.
	NamespacesFailed int64
	StartedAt        time.Time
	FinishedAt       time.Time
	// Error explains a failed or partial run, for a human.
	Error string
	// TraceParent is the W3C traceparent of the run's first span; a resumed run continues that trace.
	TraceParent string
	Counts      Counts
}

// Finished reports whether the run has reached a final state.
func (r *Run) Finished() bool {
	switch r.State {
	case orchestratorv1.RunState_RUN_STATE_SUCCEEDED, orchestratorv1.RunState_RUN_STATE_PARTIALLY_SUCCEEDED,
		orchestratorv1.RunState_RUN_STATE_FAILED, orchestratorv1.RunState_RUN_STATE_CANCELLED:
		return true
	}
	return false
}

// Duration is the wall time so far, or in total once finished.
func (r *Run) Duration(now time.Time) time.Duration {
	if !r.FinishedAt.IsZero() {
		return r.FinishedAt.Sub(r.StartedAt)
	}
	return now.Sub(r.StartedAt)
}

// Counts counts what a run did.
type Counts struct {
	Discovered, Scanned, Skipped, Failed, Ingested int64
	Findings                                       FindingCounts
	EventsStored                                   int64
	ScannedPushed, ScannedRunning                  int64
	NamespacesFailed                               int64
}

// FindingCounts counts findings by normalized risk level.
type FindingCounts = risk.Counts

// Image is one image of a run and where it stands.
type Image struct {
	Image      *imagev1.Image
	State      ImageState
	Reason     string
	Attempts   int
	ScanReason ScanReason
	Findings   FindingCounts
	// EventsStored is what ingest stored for this image.
	EventsStored int64
	// Report is kept between scan and ingest so that a resumed run ingests the same scan_id again
	// (ingest answers a repeated scan_id with "duplicate", so nothing is stored twice).
	Report    *imagev1.ScanReport
	UpdatedAt time.Time
}

// Key identifies an image inside a run and in the orchestrator's memory.
type Key struct {
	Registry, Repository, Digest string
}

// KeyOf returns an image's key (registry defaults to docker.io).
func KeyOf(img *imagev1.Image) Key {
	reg := img.GetRegistry()
	if reg == "" {
		reg = DefaultRegistry
	}
	return Key{Registry: reg, Repository: img.GetRepository(), Digest: img.GetDigest()}
}

// DefaultRegistry is Docker Hub.
const DefaultRegistry = "docker.io"

// Evaluation is the memory of one digest having been scanned and ingested.
type Evaluation struct {
	RunID string
	// At is the start of the run that evaluated it (so that a RESCAN_INTERVAL equal to RUN_INTERVAL
	// re-evaluates running images on every run, not every other one).
	At time.Time
}

// CarryOver is an image a finished run could not complete, queued for the next default run.
type CarryOver struct {
	Image  *imagev1.Image
	Reason string
	RunID  string
}

// Shorthands for the enum values used throughout the package.
const (
	StateRunning   = orchestratorv1.RunState_RUN_STATE_RUNNING
	StateSucceeded = orchestratorv1.RunState_RUN_STATE_SUCCEEDED
	StatePartial   = orchestratorv1.RunState_RUN_STATE_PARTIALLY_SUCCEEDED
	StateFailed    = orchestratorv1.RunState_RUN_STATE_FAILED
	StateCancelled = orchestratorv1.RunState_RUN_STATE_CANCELLED

	ImagePending  = orchestratorv1.ImageState_IMAGE_STATE_PENDING
	ImageScanning = orchestratorv1.ImageState_IMAGE_STATE_SCANNING
	ImageScanned  = orchestratorv1.ImageState_IMAGE_STATE_SCANNED
	ImageIngested = orchestratorv1.ImageState_IMAGE_STATE_INGESTED
	ImageFailed   = orchestratorv1.ImageState_IMAGE_STATE_FAILED
	ImageSkipped  = orchestratorv1.ImageState_IMAGE_STATE_SKIPPED

	ReasonPushed      = orchestratorv1.ScanReason_SCAN_REASON_PUSHED
	ReasonRunning     = orchestratorv1.ScanReason_SCAN_REASON_RUNNING
	ReasonCarriedOver = orchestratorv1.ScanReason_SCAN_REASON_CARRIED_OVER

	TriggerSchedule = orchestratorv1.Trigger_TRIGGER_SCHEDULE
	TriggerAPI      = orchestratorv1.Trigger_TRIGGER_API
)

// Request asks for a run; every field is optional.
type Request struct {
	Namespaces   []string
	PushedAfter  time.Time
	PushedBefore time.Time
	DryRun       bool
	ForceRescan  bool
	Trigger      Trigger
	// RescanOnly: re-evaluate running images only (the RESCAN_INTERVAL schedule).
	RescanOnly bool
}
