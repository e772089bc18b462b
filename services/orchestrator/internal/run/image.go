package run

import (
	"context"
	"fmt"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"

	imagev1 "github.com/scoutbridge/scoutbridge/gen/scoutbridge/image/v1"
	"github.com/scoutbridge/scoutbridge/pkg/retry"
	"github.com/scoutbridge/scoutbridge/pkg/risk"
)

// goneMark starts the reason of a failure that retrying will not fix (the scanner rejected the
// reference or the image no longer exists); such images are not carried over.
const goneMark = "image rejected: "

// process scans and ingests one image, each step retried while its peer is unavailable. Its span is a
// child of the run's span and the parent of the scanner's and ingest's spans.
func (ex *execution) process(ctx context.Context, img *Image) {
	o := ex.o
	k := KeyOf(img.Image)
	ctx, span := tracer.Start(ctx, "image "+k.Repository, spanAttrs(ex.id, img))
	defer span.End()
	// What a peer did is recorded even when the run is being stopped: a scan whose report was not
	// saved, or an ingest whose success was not, would be done twice after a restart.
	persist := context.WithoutCancel(ctx)

	if img.State != ImageScanned || img.Report == nil {
		report, err := ex.scan(ctx, img)
		if err != nil {
			if ctx.Err() != nil {
				return // cancelled or shutting down: finish (or the next start) decides
			}
			ex.fail(ctx, img, err)
			span.SetStatus(codes.Error, img.Reason)
			return
		}
		img.Report = report
		img.State = ImageScanned
		img.Reason = ""
		img.UpdatedAt = o.opt.Now().UTC()
		if err := o.store.SaveImage(persist, ex.id, img); err != nil {
			o.log.ErrorContext(ctx, "save scanned image; not ingesting it in this run", "digest", k.Digest, "error", err.Error())
			return
		}
		ex.publish(ctx, Event{Type: EventScanFinished, Image: img, Message: fmt.Sprintf("%d findings", len(report.GetFindings()))})
	}

	res, err := ex.ingestReport(ctx, img.Report)
	if err != nil {
		if ctx.Err() != nil {
			return
		}
		ex.fail(ctx, img, err)
		span.SetStatus(codes.Error, img.Reason)
		return
	}
	img.Findings = res.Findings
	if res.Duplicate && res.Findings.Total() == 0 {
		img.Findings = countFindings(img.Report) // a resumed run's repeated ingest counts nothing new
	}
	img.EventsStored = res.EventsStored
	img.State = ImageIngested
	img.Report = nil
	img.UpdatedAt = o.opt.Now().UTC()
	if err := o.store.CompleteImage(persist, ex.id, img, &Evaluation{RunID: ex.id, At: ex.run.StartedAt}); err != nil {
		o.log.ErrorContext(ctx, "save ingested image", "digest", k.Digest, "error", err.Error())
	}
	o.metrics.image(ctx, "ingested")
	o.metrics.findings(ctx, img.Findings)
	span.SetAttributes(attribute.Int64("scoutbridge.findings", img.Findings.Total()), attribute.Int64("scoutbridge.events_stored", res.EventsStored))
	ex.publish(ctx, Event{Type: EventIngested, Image: img, Message: fmt.Sprintf("%d events stored", res.EventsStored)})
}

// scan calls the scanner until it answers, fails permanently, or MaxAttempts calls were made.
func (ex *execution) scan(ctx context.Context, img *Image) (*imagev1.ScanReport, error) {
	o := ex.o
	force := ex.run.ForceRescan || img.ScanReason == ReasonRunning
	var err error
	for attempt := 1; attempt <= o.opt.MaxAttempts; attempt++ {
		img.State = ImageScanning
		img.Attempts++
		img.UpdatedAt = o.opt.Now().UTC()
		if serr := o.store.SaveImage(ctx, ex.id, img); serr != nil && ctx.Err() == nil {
			o.log.ErrorContext(ctx, "save scanning image", "digest", img.Image.GetDigest(), "error", serr.Error())
		}
		ex.publish(ctx, Event{Type: EventScanStarted, Image: img, Message: fmt.Sprintf("attempt %d", attempt)})
		start := time.Now()
		var report *imagev1.ScanReport
		report, err = o.scanner.Scan(ctx, img.Image, force)
		o.metrics.scanDuration(ctx, time.Since(start), err)
		if err == nil {
			return report, nil
		}
		if ctx.Err() != nil || !retryable(err) {
			break
		}
		if attempt < o.opt.MaxAttempts {
			o.log.WarnContext(ctx, "scan failed; retrying", "digest", img.Image.GetDigest(), "attempt", attempt, "error", err.Error())
			if retry.Sleep(ctx, o.opt.Backoff.Delay(attempt-1)) != nil {
				return nil, ctx.Err()
			}
		}
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	switch {
	case gone(err):
		return nil, fmt.Errorf("%sscan: %w", goneMark, err)
	case retryable(err):
		return nil, fmt.Errorf("scan: still failing after %d attempts: %w", o.opt.MaxAttempts, err)
	default:
		return nil, fmt.Errorf("scan: %w", err)
	}
}

// ingestReport stores the report's events. The call itself is not cut short by CancelRun (it is quick,
// and an ingest whose answer was lost would leave the image in doubt); waiting between retries is.
func (ex *execution) ingestReport(ctx context.Context, report *imagev1.ScanReport) (IngestResult, error) {
	o := ex.o
	var err error
	for attempt := 1; attempt <= o.opt.MaxAttempts; attempt++ {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), o.opt.IngestTimeout)
		var res IngestResult
		res, err = o.ingest.Ingest(cctx, report)
		cancel()
		if err == nil {
			return res, nil
		}
		if !retryable(err) {
			break
		}
		if attempt < o.opt.MaxAttempts {
			o.log.WarnContext(ctx, "ingest failed; retrying", "scan_id", report.GetScanId(), "attempt", attempt, "error", err.Error())
			if retry.Sleep(ctx, o.opt.Backoff.Delay(attempt-1)) != nil {
				return IngestResult{}, ctx.Err()
			}
		}
	}
	if retryable(err) {
		return IngestResult{}, fmt.Errorf("ingest: still failing after %d attempts: %w", o.opt.MaxAttempts, err)
	}
	return IngestResult{}, fmt.Errorf("ingest: %w", err)
}

// fail records an image's permanent failure.
func (ex *execution) fail(ctx context.Context, img *Image, err error) {
	o := ex.o
	img.State = ImageFailed
	img.Reason = err.Error()
	img.Report = nil
	img.UpdatedAt = o.opt.Now().UTC()
	if serr := o.store.SaveImage(context.WithoutCancel(ctx), ex.id, img); serr != nil {
		o.log.ErrorContext(ctx, "save failed image", "digest", img.Image.GetDigest(), "error", serr.Error())
	}
	o.log.WarnContext(ctx, "image failed", "run_id", ex.id, "repository", img.Image.GetRepository(),
		"digest", img.Image.GetDigest(), "reason", img.Reason)
	o.metrics.image(ctx, "failed")
	ex.publish(ctx, Event{Type: EventImageFailed, Image: img, Message: img.Reason})
}

// countFindings counts a report's findings by normalized risk level.
func countFindings(report *imagev1.ScanReport) FindingCounts {
	var c FindingCounts
	for _, f := range report.GetFindings() {
		lvl, _ := risk.OfFinding(f)
		c.Add(lvl)
	}
	return c
}

func spanAttrs(runID string, img *Image) traceStartOption {
	return withAttributes(
		attribute.String("scoutbridge.run_id", runID),
		attribute.String("container_image.registry", img.Image.GetRegistry()),
		attribute.String("container_image.repository", img.Image.GetRepository()),
		attribute.String("container_image.digest", img.Image.GetDigest()),
		attribute.String("scoutbridge.scan_reason", img.ScanReason.String()),
	)
}
