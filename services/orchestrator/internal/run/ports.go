package run

import (
	"context"
	"errors"
	"time"

	imagev1 "github.com/scoutbridge/scoutbridge/gen/scoutbridge/image/v1"
)

// Discoverer lists the images pushed inside a window.
type Discoverer interface {
	// Discover calls onImage for every image and onNamespaceError for every namespace that could not
	// be listed; it returns when the listing is complete or failed.
	Discover(ctx context.Context, q DiscoverQuery, onImage func(*imagev1.Image) error, onNamespaceError func(NamespaceError) error) error
}

// DiscoverQuery is what to list.
type DiscoverQuery struct {
	Namespaces []string
	Window     Window
}

// NamespaceError is a namespace discovery could not list.
type NamespaceError struct {
	Namespace, Code, Message string
}

// Scanner scans one image digest.
type Scanner interface {
	Scan(ctx context.Context, img *imagev1.Image, force bool) (*imagev1.ScanReport, error)
}

// IngestResult is what ingest stored for one report.
type IngestResult struct {
	EventsStored int64
	Duplicate    bool
	Findings     FindingCounts
}

// Ingester stores scan reports as events.
type Ingester interface {
	Ingest(ctx context.Context, report *imagev1.ScanReport) (IngestResult, error)
	// OutboxDepth is the number of event deliveries waiting in ingest's outbox.
	OutboxDepth(ctx context.Context) (int64, error)
}

// RunningImage is a digest running now, as the runtime service sees it.
type RunningImage struct {
	Digest string
	// ImageName is "docker.io/acme/api" (a tag may follow).
	ImageName string
}

// Runtime is the runtime-context (triage) service.
type Runtime interface {
	RunningImages(ctx context.Context) ([]RunningImage, error)
	NotifyNewFindings(ctx context.Context) error
}

// Store persists runs, their images and the orchestrator's memory.
type Store interface {
	CreateRun(ctx context.Context, r *Run) error
	// UpdateRun saves a run's own fields (not its images).
	UpdateRun(ctx context.Context, r *Run) error
	// GetRun returns a run with its counts; ErrNotFound when unknown.
	GetRun(ctx context.Context, id string) (*Run, error)
	// ListRuns returns runs newest first with Seq below beforeSeq (0: from the newest).
	ListRuns(ctx context.Context, beforeSeq int64, limit int) ([]*Run, error)
	// UnfinishedRuns returns runs still RUNNING (left behind by a crash or a shutdown).
	UnfinishedRuns(ctx context.Context) ([]*Run, error)
	// LatestRun returns the newest run matching the filter, or nil.
	LatestRun(ctx context.Context, f RunFilter) (*Run, error)

	// AddImage inserts an image into a run; it reports false when the run holds the digest already.
	AddImage(ctx context.Context, runID string, img *Image) (bool, error)
	// SaveImage saves an image's state.
	SaveImage(ctx context.Context, runID string, img *Image) error
	// CompleteImage saves an ingested or skipped image, remembers the digest as evaluated (ingested
	// only) and removes it from the carry-over queue, in one transaction.
	CompleteImage(ctx context.Context, runID string, img *Image, eval *Evaluation) error
	Images(ctx context.Context, runID string) ([]*Image, error)

	Evaluated(ctx context.Context, k Key) (Evaluation, bool, error)
	CarryOvers(ctx context.Context) ([]CarryOver, error)
	Watermark(ctx context.Context) (time.Time, bool, error)
	// FinishRun saves the final run, moves the watermark (when advanceTo is set), queues carry-overs
	// and drops the given keys from the carry-over queue, in one transaction.
	FinishRun(ctx context.Context, r *Run, advanceTo *time.Time, carry []CarryOver, drop []Key) error
}

// RunFilter selects runs for LatestRun.
type RunFilter struct {
	MovesWatermark bool
	RescanOnly     bool
}

// ErrNotFound is returned for an unknown run.
var ErrNotFound = errors.New("not found")

// PeerError is a failed call to a peer, classified by its gRPC code.
type PeerError struct {
	// Peer is "discovery", "scanner", "ingest" or "runtime".
	Peer string
	// Code is the gRPC code name, e.g. "Unavailable".
	Code    string
	Message string
	// Retryable: the peer is down or busy (Unavailable, ResourceExhausted).
	Retryable bool
	// Gone: the image itself is invalid or no longer exists (InvalidArgument, NotFound); retrying it in
	// a later run will not help, so it is not carried over.
	Gone bool
}

func (e *PeerError) Error() string { return e.Peer + ": " + e.Code + ": " + e.Message }

func retryable(err error) bool {
	var pe *PeerError
	return errors.As(err, &pe) && pe.Retryable
}

func gone(err error) bool {
	var pe *PeerError
	return errors.As(err, &pe) && pe.Gone
}

// RunningError is returned by Start while a run is running.
type RunningError struct{ RunID string }

func (e *RunningError) Error() string {
	return "run " + e.RunID + " is running; wait for it or cancel it"
}

// InvalidRequestError is a request the orchestrator cannot honour.
type InvalidRequestError struct{ Reason string }

func (e *InvalidRequestError) Error() string { return e.Reason }
