// Package peers adapts the orchestrator's gRPC peers (discovery, scanner, ingest, runtime) to the
// ports of package run: it makes the calls and classifies their failures (retryable, image gone,
// other) from the gRPC codes, so the domain never sees a status.
package peers

import (
	"context"
	"errors"
	"io"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	discoveryv1 "github.com/scoutbridge/scoutbridge/gen/scoutbridge/discovery/v1"
	imagev1 "github.com/scoutbridge/scoutbridge/gen/scoutbridge/image/v1"
	ingestv1 "github.com/scoutbridge/scoutbridge/gen/scoutbridge/ingest/v1"
	scannerv1 "github.com/scoutbridge/scoutbridge/gen/scoutbridge/scanner/v1"
	triagev1 "github.com/scoutbridge/scoutbridge/gen/scoutbridge/triage/v1"
	"github.com/scoutbridge/scoutbridge/services/orchestrator/internal/run"
)

// classify turns a gRPC error into a *run.PeerError. Only Unavailable and ResourceExhausted are
// retried; InvalidArgument and NotFound mean the image itself is bad or gone.
func classify(peer string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		if st, ok := status.FromError(err); !ok || st.Code() == codes.Canceled {
			return err
		}
	}
	st := status.Convert(err)
	c := st.Code()
	return &run.PeerError{
		Peer:      peer,
		Code:      c.String(),
		Message:   st.Message(),
		Retryable: c == codes.Unavailable || c == codes.ResourceExhausted,
		Gone:      c == codes.InvalidArgument || c == codes.NotFound,
	}
}

// Discovery is the discovery service.
type Discovery struct {
	c discoveryv1.DiscoveryServiceClient
}

// NewDiscovery wraps a connection to the discovery service.
func NewDiscovery(cc grpc.ClientConnInterface) *Discovery {
	return &Discovery{c: discoveryv1.NewDiscoveryServiceClient(cc)}
}

// Discover streams the window's images.
func (d *Discovery) Discover(ctx context.Context, q run.DiscoverQuery, onImage func(*imagev1.Image) error, onNS func(run.NamespaceError) error) error {
	req := &discoveryv1.DiscoverImagesRequest{Namespaces: q.Namespaces}
	if !q.Window.Start.IsZero() {
		req.PushedAfter = timestamppb.New(q.Window.Start)
	}
	if !q.Window.End.IsZero() {
		req.PushedBefore = timestamppb.New(q.Window.End)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := d.c.DiscoverImages(ctx, req)
	if err != nil {
		return classify("discovery", err)
	}
	for {
		resp, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return classify("discovery", err)
		}
		switch e := resp.GetEntry().(type) {
		case *discoveryv1.DiscoverImagesResponse_Image:
			err = onImage(e.Image)
		case *discoveryv1.DiscoverImagesResponse_NamespaceError:
			err = onNS(run.NamespaceError{Namespace: e.NamespaceError.GetNamespace(), Code: e.NamespaceError.GetCode(), Message: e.NamespaceError.GetMessage()})
		}
		if err != nil {
			return err
		}
	}
}

// Scanner is the scanner service (SCANNER_ADDR may resolve to several hosts; the connection balances).
type Scanner struct {
	c scannerv1.ScannerServiceClient
}

// NewScanner wraps a connection to the scanner service.
func NewScanner(cc grpc.ClientConnInterface) *Scanner {
	return &Scanner{c: scannerv1.NewScannerServiceClient(cc)}
}

// Scan scans one image.
func (s *Scanner) Scan(ctx context.Context, img *imagev1.Image, force bool) (*imagev1.ScanReport, error) {
	resp, err := s.c.ScanImage(ctx, &scannerv1.ScanImageRequest{Image: img, Force: force})
	if err != nil {
		return nil, classify("scanner", err)
	}
	if resp.GetReport() == nil {
		return nil, &run.PeerError{Peer: "scanner", Code: codes.Internal.String(), Message: "the scanner answered without a report"}
	}
	return resp.GetReport(), nil
}

// Ingest is the ingest service.
type Ingest struct{ c ingestv1.IngestServiceClient }

// NewIngest wraps a connection to the ingest service.
func NewIngest(cc grpc.ClientConnInterface) *Ingest {
	return &Ingest{c: ingestv1.NewIngestServiceClient(cc)}
}

// Ingest stores one report.
func (i *Ingest) Ingest(ctx context.Context, report *imagev1.ScanReport) (run.IngestResult, error) {
	resp, err := i.c.IngestScan(ctx, &ingestv1.IngestScanRequest{Report: report})
	if err != nil {
		return run.IngestResult{}, classify("ingest", err)
	}
	f := resp.GetFindings()
	return run.IngestResult{EventsStored: resp.GetEventsStored(), Duplicate: resp.GetDuplicate(),
		Findings: run.FindingCounts{Critical: f.GetCritical(), High: f.GetHigh(), Medium: f.GetMedium(), Low: f.GetLow(), None: f.GetNone()}}, nil
}

// OutboxDepth sums the queued deliveries of every sink.
func (i *Ingest) OutboxDepth(ctx context.Context) (int64, error) {
	resp, err := i.c.GetIngestStats(ctx, &ingestv1.GetIngestStatsRequest{})
	if err != nil {
		return 0, classify("ingest", err)
	}
	var n int64
	for _, s := range resp.GetSinks() {
		n += s.GetQueued()
	}
	return n, nil
}

// Runtime is the runtime-context (triage) service.
type Runtime struct{ c triagev1.TriageServiceClient }

// NewRuntime wraps a connection to the runtime service.
func NewRuntime(cc grpc.ClientConnInterface) *Runtime {
	return &Runtime{c: triagev1.NewTriageServiceClient(cc)}
}

// RunningImages lists the digests running now.
func (r *Runtime) RunningImages(ctx context.Context) ([]run.RunningImage, error) {
	resp, err := r.c.ListRuntimeImages(ctx, &triagev1.ListRuntimeImagesRequest{})
	if err != nil {
		return nil, classify("runtime", err)
	}
	out := make([]run.RunningImage, 0, len(resp.GetImages()))
	for _, img := range resp.GetImages() {
		out = append(out, run.RunningImage{Digest: img.GetDigest(), ImageName: img.GetImageName()})
	}
	return out, nil
}

// NotifyNewFindings asks the runtime service to notify the new prioritized rows.
func (r *Runtime) NotifyNewFindings(ctx context.Context) error {
	_, err := r.c.NotifyNewFindings(ctx, &triagev1.NotifyNewFindingsRequest{})
	return classify("runtime", err)
}
