package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"
)

// Stats counts what the store holds.
type Stats struct {
	Scans, Events, Findings int64
}

// Stats reads the counters kept with every ingest.
func (s *Store) Stats(ctx context.Context) (Stats, error) {
	var st Stats
	for _, c := range []struct {
		name string
		p    *int64
	}{{"scans", &st.Scans}, {"events", &st.Events}, {"findings", &st.Findings}} {
		v, err := s.counter(ctx, c.name)
		if err != nil {
			return Stats{}, fmt.Errorf("read counter %s: %w", c.name, err)
		}
		*c.p = v
	}
	return st, nil
}

// SinkCounts is one sink's queue state.
type SinkCounts struct {
	Queued, Sent, DeadLettered int64
	// OldestQueued is when the oldest waiting event was queued (its scan's ingest time, or its redrive
	// time); zero when nothing waits.
	OldestQueued time.Time
}

// SinkCounts reads a sink's queue length, sent and dead-lettered counters and oldest queued time.
func (s *Store) SinkCounts(ctx context.Context, sink string) (SinkCounts, error) {
	var c SinkCounts
	var cursor sql.NullInt64
	err := s.r.QueryRowContext(ctx, `SELECT delivered_seq FROM sink_cursors WHERE sink = ?`, sink).Scan(&cursor)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return c, fmt.Errorf("cursor of %s: %w", sink, err)
	}
	var oldest []int64
	if cursor.Valid {
		var at sql.NullInt64
		// max(seq) - cursor, not count(*): seqs have no gaps (AUTOINCREMENT, events are never deleted, a
		// failed ingest rolls back whole, sqlite_sequence with it), and counting would read every waiting
		// event's body.
		if err := s.r.QueryRowContext(ctx, `SELECT coalesce(max(seq), ?1) - ?1, (SELECT s.ingested_at FROM events e
			JOIN scans s ON s.scan_id = e.scan_id WHERE e.seq > ?1 ORDER BY e.seq LIMIT 1) FROM events`, cursor.Int64).Scan(&c.Queued, &at); err != nil {
			return c, fmt.Errorf("count the queue of %s: %w", sink, err)
		}
		if at.Valid {
			oldest = append(oldest, at.Int64)
		}
	}
	var redriven int64
	var at sql.NullInt64
	if err := s.r.QueryRowContext(ctx, `SELECT count(*), min(queued_at) FROM redrive_queue WHERE sink = ?`, sink).Scan(&redriven, &at); err != nil {
		return c, fmt.Errorf("count the redrive queue of %s: %w", sink, err)
	}
	c.Queued += redriven
	if at.Valid {
		oldest = append(oldest, at.Int64)
	}
	if len(oldest) > 0 {
		c.OldestQueued = time.UnixMilli(slices.Min(oldest))
	}
	var err2 error
	if c.Sent, err2 = s.counter(ctx, "sent:"+sink); err2 != nil {
		return c, err2
	}
	if c.DeadLettered, err2 = s.counter(ctx, "dead:"+sink); err2 != nil {
		return c, err2
	}
	return c, nil
}
