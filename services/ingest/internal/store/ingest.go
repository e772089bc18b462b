package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"sync"

	"github.com/scoutbridge/scoutbridge/services/ingest/internal/semdict"
)

// IngestResult says what Ingest stored.
type IngestResult struct {
	// Duplicate is true when the scan was stored before; nothing new was stored then.
	Duplicate    bool
	EventsStored int64
	// EventsQueued counts (event, sink) pairs now waiting for delivery: every stored event is queued
	// for every configured sink by the same commit (the sinks' cursors are below it).
	EventsQueued int64
}

// Rows go in multi-row INSERTs of these sizes (largest first; a scan of 201 events is 100+100+1): far
// fewer statements to run and round trips through database/sql and the driver, every statement
// prepared once by Open, and well under SQLite's 32,766 bound parameters.
var (
	eventChunks   = []int{100, 64, 32, 16, 8, 4, 2, 1} // 4 parameters per row
	findingChunks = []int{50, 32, 16, 8, 4, 2, 1}      // 18 parameters per row
)

// chunk is the size of the next multi-row insert for n remaining rows.
func chunk(sizes []int, n int) int {
	for _, c := range sizes {
		if c <= n {
			return c
		}
	}
	return n
}

const (
	insertScan = `INSERT INTO scans (scan_id, registry, repository, digest, tags, platform_digests,
		provider, completed_at, ingested_at, finding_count) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (scan_id) DO NOTHING`
	insertCursor   = `INSERT INTO sink_cursors (sink, delivered_seq) VALUES (?, ?) ON CONFLICT (sink) DO NOTHING`
	insertCounters = `INSERT INTO counters (name, value) VALUES ('scans', ?), ('events', ?), ('findings', ?)
		ON CONFLICT (name) DO UPDATE SET value = value + excluded.value`
)

func hotStatements() []string {
	qs := []string{insertScan, insertCursor, insertCounters}
	for _, n := range eventChunks {
		qs = append(qs, rowsSQL(insertEventsHead, insertEventsRow, n))
	}
	for _, n := range findingChunks {
		qs = append(qs, rowsSQL(insertFindingsHead, insertFindingsRow, n))
	}
	return qs
}

const (
	insertEventsHead   = `INSERT INTO events (event_id, scan_id, type, body) VALUES `
	insertEventsRow    = `(?, ?, ?, ?)`
	insertFindingsHead = `INSERT INTO findings (seq, finding_id, event_id, scan_id, registry, repository,
		digest, vulnerability_id, title, package_name, package_version, purl, severity, risk_level, risk_score,
		fixed_versions, detected_at, provider) VALUES `
	insertFindingsRow = `(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
)

// Ingest commits a scan, its events and its findings index; the same commit queues the events for
// every sink in sinks (a sink's cursor is created just below the scan's first event the first time it
// is named). A scan id seen before stores nothing and reports Duplicate. Ingest returns once the scan
// is durable. The events are encoded here, in the caller's goroutine, and concurrent calls are committed
// together (group.go): the writer's critical section is SQLite's work alone.
func (s *Store) Ingest(ctx context.Context, b *semdict.Batch, sinks []string) (IngestResult, error) {
	return s.submit(ctx, encode(b, sinks))
}

// scanRows is a batch encoded for the store: what ingestTx writes, ready before the writer is free.
type scanRows struct {
	b               *semdict.Batch
	sinks           []string
	tags, platforms string
	bodies          [][]byte // scan event, then one per finding, slices of buf
	fixes           []string // per finding, JSON array
	buf             *[]byte
}

// bodyBufs recycles the buffers events are encoded into (~0.5 MB for a 200-finding scan): the driver
// copies a body when it binds it, so a buffer is free again once its scan is committed.
var bodyBufs = sync.Pool{New: func() any { return new([]byte) }}

// release recycles r's buffer; the committer calls it once r's final transaction is over.
func (r *scanRows) release() {
	*r.buf = (*r.buf)[:0]
	bodyBufs.Put(r.buf)
	r.bodies, r.buf = nil, nil
}

func encode(b *semdict.Batch, sinks []string) *scanRows {
	tags, _ := json.Marshal(nonNil(b.Tags))
	platforms, _ := json.Marshal(nonNil(b.PlatformDigests))
	r := &scanRows{b: b, sinks: sinks, tags: string(tags), platforms: string(platforms),
		bodies: make([][]byte, len(b.Findings)+1), fixes: make([]string, len(b.Findings))}
	// All of a scan's events go into one buffer; they are sliced out of it once it has stopped moving.
	r.buf = bodyBufs.Get().(*[]byte)
	ends := make([]int, len(r.bodies))
	buf := b.Scan.Event.AppendJSON((*r.buf)[:0])
	ends[0] = len(buf)
	for i := range b.Findings {
		f := &b.Findings[i]
		buf = f.Event.AppendJSON(buf)
		ends[i+1] = len(buf)
		fixes, _ := json.Marshal(nonNil(f.FixedVersions))
		r.fixes[i] = string(fixes)
	}
	*r.buf = buf
	from := 0
	for i, end := range ends {
		r.bodies[i] = buf[from:end:end]
		from = end
	}
	return r
}

// ingestTx writes one encoded scan in tx.
func (s *Store) ingestTx(ctx context.Context, tx *sql.Tx, sr *scanRows) (IngestResult, error) {
	var res IngestResult
	b := sr.b
	r, err := s.exec(ctx, tx, insertScan, b.ScanID, b.Registry, b.Repository, b.Digest, sr.tags, sr.platforms, b.Provider, ms(b.CompletedAt), ms(s.now()), len(b.Findings))
	if err != nil {
		return res, fmt.Errorf("insert scan: %w", err)
	}
	if n, _ := r.RowsAffected(); n == 0 {
		res.Duplicate = true
		return res, nil
	}
	for _, d := range b.PlatformDigests {
		if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO scan_platforms (digest, scan_id) VALUES (?, ?)`, d, b.ScanID); err != nil {
			return res, fmt.Errorf("insert platform: %w", err)
		}
	}

	// Events: the scan event, then one per finding, in multi-row inserts. seq is AUTOINCREMENT and
	// this transaction is the only writer, so one statement's rows get consecutive seqs ending at
	// its last insert id.
	nEvents := len(sr.bodies)
	seqs := make([]int64, 0, nEvents)
	args := make([]any, 0, 18*findingChunks[0])
	for start, end := 0, 0; start < nEvents; start = end {
		end = start + chunk(eventChunks, nEvents-start)
		args = args[:0]
		for i := start; i < end; i++ {
			id, typ := b.Scan.EventID, semdict.TypeScan
			if i > 0 {
				id, typ = b.Findings[i-1].EventID, semdict.TypeFinding
			}
			args = append(args, id, b.ScanID, typ, sr.bodies[i])
		}
		r, err := s.exec(ctx, tx, rowsSQL(insertEventsHead, insertEventsRow, end-start), args...)
		if err != nil {
			return res, fmt.Errorf("insert events: %w", err)
		}
		last, err := r.LastInsertId()
		if err != nil {
			return res, err
		}
		for seq := last - int64(end-start) + 1; seq <= last; seq++ {
			seqs = append(seqs, seq)
		}
	}
	res.EventsStored = int64(len(seqs))

	for start, end := 0, 0; start < len(b.Findings); start = end {
		end = start + chunk(findingChunks, len(b.Findings)-start)
		args = args[:0]
		for i := start; i < end; i++ {
			f := &b.Findings[i]
			args = append(args, seqs[i+1], f.FindingID, f.EventID, b.ScanID, b.Registry, b.Repository,
				b.Digest, f.VulnerabilityID, f.Title, f.PackageName, f.PackageVersion, f.PURL, f.Severity,
				int(f.RiskLevel), f.RiskScore, sr.fixes[i], ms(f.DetectedAt), b.Provider)
		}
		if _, err := s.exec(ctx, tx, rowsSQL(insertFindingsHead, insertFindingsRow, end-start), args...); err != nil {
			return res, fmt.Errorf("insert findings: %w", err)
		}
	}

	// Queue: nothing to write but a cursor for a sink seen for the first time.
	for _, sink := range sr.sinks {
		if _, err := s.exec(ctx, tx, insertCursor, sink, seqs[0]-1); err != nil {
			return res, fmt.Errorf("queue events for %s: %w", sink, err)
		}
		res.EventsQueued += res.EventsStored
	}
	if err := addCounters(ctx, tx, s, 1, res.EventsStored, int64(len(b.Findings))); err != nil {
		return res, err
	}
	return res, nil
}

// rowsSQL is head followed by n copies of row, comma-separated.
func rowsSQL(head, row string, n int) string {
	q := make([]byte, 0, len(head)+n*(len(row)+2))
	q = append(q, head...)
	for i := range n {
		if i > 0 {
			q = append(q, ", "...)
		}
		q = append(q, row...)
	}
	return string(q)
}

func addCounters(ctx context.Context, tx *sql.Tx, s *Store, scans, events, findings int64) error {
	_, err := s.exec(ctx, tx, insertCounters, scans, events, findings)
	if err != nil {
		return fmt.Errorf("count: %w", err)
	}
	return nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
