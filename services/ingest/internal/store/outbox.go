package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/scoutbridge/scoutbridge/pkg/sqlitedb"
)

// Pending is one event waiting for a sink.
type Pending struct {
	// RedriveID is the event's row in the redrive queue; 0 for an event that waits above the sink's
	// cursor.
	RedriveID int64
	Seq       int64
	EventID   string
	Body      []byte
}

// NextBatch returns the oldest events waiting for sink, at most maxEvents and, encoded as a JSON array,
// at most maxBytes (a single larger event is returned alone). Redriven dead letters come first; then
// the events above the sink's cursor and above after, in seq order (after lets a sender read the next
// batch while the previous one, ending at after, is still being posted; 0 = from the cursor). A batch
// is one or the other, contiguous, so any prefix or suffix of it can be acknowledged by its first and
// last element.
func (s *Store) NextBatch(ctx context.Context, sink string, after int64, maxEvents, maxBytes int) ([]Pending, error) {
	out, err := s.readBatch(ctx, sink, maxBytes, `SELECT q.id, q.event_seq, e.event_id, e.body FROM redrive_queue q
		JOIN events e ON e.seq = q.event_seq WHERE q.sink = ? ORDER BY q.id LIMIT ?`, sink, maxEvents)
	if err != nil || len(out) > 0 {
		return out, err
	}
	// max() of a NULL cursor is NULL: a sink without a cursor has nothing queued.
	return s.readBatch(ctx, sink, maxBytes, `SELECT 0, seq, event_id, body FROM events
		WHERE seq > max((SELECT delivered_seq FROM sink_cursors WHERE sink = ?), ?) ORDER BY seq LIMIT ?`, sink, after, maxEvents)
}

func (s *Store) readBatch(ctx context.Context, sink string, maxBytes int, q string, args ...any) ([]Pending, error) {
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("read the queue of %s: %w", sink, err)
	}
	defer rows.Close()
	var out []Pending
	size := 2
	for rows.Next() {
		var p Pending
		if err := rows.Scan(&p.RedriveID, &p.Seq, &p.EventID, &p.Body); err != nil {
			return nil, fmt.Errorf("read the queue of %s: %w", sink, err)
		}
		size += len(p.Body) + 1
		if len(out) > 0 && size > maxBytes {
			break
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// forget removes a batch from sink's queue in tx (deletes its redrive rows, or moves the cursor past
// it) and returns how many of its events were still queued.
func forget(ctx context.Context, tx *sql.Tx, sink string, batch []Pending) (int64, error) {
	first, last := batch[0], batch[len(batch)-1]
	if first.RedriveID != 0 {
		r, err := tx.ExecContext(ctx, `DELETE FROM redrive_queue WHERE sink = ? AND id BETWEEN ? AND ?`, sink, first.RedriveID, last.RedriveID)
		if err != nil {
			return 0, err
		}
		return r.RowsAffected()
	}
	var cursor int64
	if err := tx.QueryRowContext(ctx, `SELECT delivered_seq FROM sink_cursors WHERE sink = ?`, sink).Scan(&cursor); err != nil {
		return 0, err
	}
	var n int64
	for _, p := range batch {
		if p.Seq > cursor {
			n++
		}
	}
	if last.Seq > cursor {
		if _, err := tx.ExecContext(ctx, `UPDATE sink_cursors SET delivered_seq = ? WHERE sink = ?`, last.Seq, sink); err != nil {
			return 0, err
		}
	}
	return n, nil
}

// MarkSent removes delivered events from sink's queue and counts them as sent.
func (s *Store) MarkSent(ctx context.Context, sink string, batch []Pending) error {
	if len(batch) == 0 {
		return nil
	}
	return sqlitedb.Tx(ctx, s.w, func(tx *sql.Tx) error {
		n, err := forget(ctx, tx, sink, batch)
		if err != nil {
			return fmt.Errorf("acknowledge %s: %w", sink, err)
		}
		return addCounter(ctx, tx, "sent:"+sink, n)
	})
}

// DeadLetter moves a refused batch out of sink's queue into the dead-letter table with the answer.
func (s *Store) DeadLetter(ctx context.Context, sink string, batch []Pending, status int, response string) error {
	if len(batch) == 0 {
		return nil
	}
	const maxResponse = 8192
	if len(response) > maxResponse {
		response = response[:maxResponse] + "…[truncated]"
	}
	return sqlitedb.Tx(ctx, s.w, func(tx *sql.Tx) error {
		r, err := tx.ExecContext(ctx, `INSERT INTO dead_letters (sink, status_code, response, event_count, created_at)
			VALUES (?, ?, ?, ?, ?)`, sink, status, response, len(batch), ms(s.now()))
		if err != nil {
			return fmt.Errorf("dead-letter for %s: %w", sink, err)
		}
		id, _ := r.LastInsertId()
		ins, err := tx.PrepareContext(ctx, `INSERT OR IGNORE INTO dead_letter_events (dead_letter_id, event_seq) VALUES (?, ?)`)
		if err != nil {
			return err
		}
		defer ins.Close()
		for _, p := range batch {
			if _, err := ins.ExecContext(ctx, id, p.Seq); err != nil {
				return fmt.Errorf("dead-letter for %s: %w", sink, err)
			}
		}
		if _, err := forget(ctx, tx, sink, batch); err != nil {
			return fmt.Errorf("dead-letter for %s: %w", sink, err)
		}
		return addCounter(ctx, tx, "dead:"+sink, int64(len(batch)))
	})
}

// DeadLetter is a batch a sink refused.
type DeadLetter struct {
	ID         int64
	Sink       string
	EventCount int64
	StatusCode int
	Response   string
	CreatedAt  time.Time
}

// ListDeadLetters lists dead letters oldest first (of one sink, or all when sink is empty).
func (s *Store) ListDeadLetters(ctx context.Context, sink string, pageSize int, token string) ([]DeadLetter, string, error) {
	if pageSize <= 0 {
		pageSize = 50
	}
	pageSize = min(pageSize, 1000)
	var after int64
	if token != "" {
		n, err := strconv.ParseInt(strings.TrimPrefix(token, "d"), 10, 64)
		if err != nil || !strings.HasPrefix(token, "d") {
			return nil, "", ErrBadPageToken
		}
		after = n
	}
	rows, err := s.r.QueryContext(ctx, `SELECT id, sink, event_count, status_code, response, created_at FROM dead_letters
		WHERE id > ? AND (? = '' OR sink = ?) ORDER BY id LIMIT ?`, after, sink, sink, pageSize+1)
	if err != nil {
		return nil, "", fmt.Errorf("list dead letters: %w", err)
	}
	defer rows.Close()
	var out []DeadLetter
	for rows.Next() {
		var d DeadLetter
		var created int64
		if err := rows.Scan(&d.ID, &d.Sink, &d.EventCount, &d.StatusCode, &d.Response, &created); err != nil {
			return nil, "", err
		}
		d.CreatedAt = time.UnixMilli(created).UTC()
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, "", err
	}
	next := ""
	if len(out) > pageSize {
		out = out[:pageSize]
		next = "d" + strconv.FormatInt(out[pageSize-1].ID, 10)
	}
	return out, next, nil
}

// Redrive queues the events of the selected dead letters again (ids, or every one of sink when all is
// set; sink "" means every sink) and removes the dead letters. It returns the events queued.
func (s *Store) Redrive(ctx context.Context, sink string, ids []int64, all bool) (int64, error) {
	if len(ids) == 0 && !all {
		return 0, errors.New("nothing selected: give ids or all")
	}
	var total int64
	now := ms(s.now())
	err := sqlitedb.Tx(ctx, s.w, func(tx *sql.Tx) error {
		var sel []int64
		if len(ids) > 0 {
			sel = ids
		} else {
			rows, err := tx.QueryContext(ctx, `SELECT id FROM dead_letters WHERE ? = '' OR sink = ?`, sink, sink)
			if err != nil {
				return err
			}
			for rows.Next() {
				var id int64
				if err := rows.Scan(&id); err != nil {
					rows.Close()
					return err
				}
				sel = append(sel, id)
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return err
			}
		}
		for _, id := range sel {
			var dlSink string
			err := tx.QueryRowContext(ctx, `SELECT sink FROM dead_letters WHERE id = ? AND (? = '' OR sink = ?)`, id, sink, sink).Scan(&dlSink)
			if errors.Is(err, sql.ErrNoRows) {
				continue // already redriven, or another sink's
			}
			if err != nil {
				return err
			}
			r, err := tx.ExecContext(ctx, `INSERT INTO redrive_queue (sink, event_seq, queued_at)
				SELECT ?, event_seq, ? FROM dead_letter_events WHERE dead_letter_id = ? ORDER BY event_seq`, dlSink, now, id)
			if err != nil {
				return fmt.Errorf("redrive %d: %w", id, err)
			}
			n, _ := r.RowsAffected()
			total += n
			if _, err := tx.ExecContext(ctx, `DELETE FROM dead_letters WHERE id = ?`, id); err != nil {
				return err
			}
			if err := addCounter(ctx, tx, "dead:"+dlSink, -n); err != nil {
				return err
			}
		}
		return nil
	})
	return total, err
}
