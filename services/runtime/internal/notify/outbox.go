package notify

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/scoutbridge/scoutbridge/pkg/retry"
	"github.com/scoutbridge/scoutbridge/pkg/sqlitedb"
	"github.com/scoutbridge/scoutbridge/services/runtime/internal/readmodel"
)

const schema = `
CREATE TABLE IF NOT EXISTS notifications (
	row_id TEXT NOT NULL,
	webhook TEXT NOT NULL,
	body BLOB NOT NULL,
	created_at INTEGER NOT NULL,
	attempts INTEGER NOT NULL DEFAULT 0,
	next_attempt_at INTEGER NOT NULL,
	delivered_at INTEGER,
	last_error TEXT NOT NULL DEFAULT '',
	PRIMARY KEY (row_id, webhook)
);
CREATE INDEX IF NOT EXISTS notifications_due ON notifications (next_attempt_at) WHERE delivered_at IS NULL;
`

// Outbox queues and delivers notifications.
type Outbox struct {
	db      *sql.DB
	hooks   []Webhook
	logger  *slog.Logger
	backoff retry.Backoff
	// timeout bounds one delivery; a delivery in progress at shutdown runs to its end (or this).
	timeout time.Duration
	now     func() time.Time
	wake    chan struct{}
}

// Options tune an outbox.
type Options struct {
	Backoff retry.Backoff
	Timeout time.Duration
}

// NewOutbox prepares the outbox table in db (the runtime database).
func NewOutbox(ctx context.Context, db *sql.DB, hooks []Webhook, logger *slog.Logger, opt Options) (*Outbox, error) {
	if _, err := db.ExecContext(ctx, schema); err != nil {
		return nil, fmt.Errorf("create notification outbox: %w", err)
	}
	if opt.Backoff.Initial == 0 {
		opt.Backoff = retry.Backoff{Initial: time.Second, Max: 5 * time.Minute, Multiplier: 2, Jitter: 0.2}
	}
	if opt.Timeout == 0 {
		opt.Timeout = 4 * time.Second
	}
	return &Outbox{db: db, hooks: hooks, logger: logger, backoff: opt.Backoff, timeout: opt.Timeout, now: time.Now,
		wake: make(chan struct{}, 1)}, nil
}

// Webhooks names the configured webhooks.
func (o *Outbox) Webhooks() int { return len(o.hooks) }

// Enqueue queues every row for every webhook that has not had it before and returns how many
// notifications it queued.
func (o *Outbox) Enqueue(ctx context.Context, rows []readmodel.Row) (int, error) {
	if len(o.hooks) == 0 || len(rows) == 0 {
		return 0, nil
	}
	queued := 0
	now := o.now().UnixNano()
	err := sqlitedb.Tx(ctx, o.db, func(tx *sql.Tx) error {
		queued = 0
		for _, r := range rows {
			for _, h := range o.hooks {
				var exists int
				err := tx.QueryRowContext(ctx, `SELECT 1 FROM notifications WHERE row_id = ? AND webhook = ?`, r.RowID, h.Name()).Scan(&exists)
				if err == nil {
					continue
				}
				if !errors.Is(err, sql.ErrNoRows) {
					return err
				}
				body, err := h.Body(r)
				if err != nil {
					return fmt.Errorf("render %s for %s: %w", r.RowID, h.Name(), err)
				}
				if _, err := tx.ExecContext(ctx, `INSERT INTO notifications (row_id, webhook, body, created_at, next_attempt_at) VALUES (?, ?, ?, ?, ?)`,
					r.RowID, h.Name(), body, now, now); err != nil {
					return err
				}
				queued++
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	if queued > 0 {
		select {
		case o.wake <- struct{}{}:
		default:
		}
	}
	return queued, nil
}

// Stats counts the outbox.
type Stats struct{ Pending, Delivered int }

// Stats counts pending and delivered notifications.
func (o *Outbox) Stats(ctx context.Context) (Stats, error) {
	var s Stats
	err := o.db.QueryRowContext(ctx, `SELECT COUNT(*) FILTER (WHERE delivered_at IS NULL), COUNT(*) FILTER (WHERE delivered_at IS NOT NULL) FROM notifications`).Scan(&s.Pending, &s.Delivered)
	return s, err
}

type pending struct {
	rowID, webhook string
	body           []byte
	attempts       int
}

// Run delivers due notifications until ctx ends. A delivery that has started when ctx ends finishes
// and is recorded before Run returns.
func (o *Outbox) Run(ctx context.Context) error {
	hooks := map[string]Webhook{}
	for _, h := range o.hooks {
		hooks[h.Name()] = h
	}
	if len(o.hooks) == 0 {
		<-ctx.Done()
		return ctx.Err()
	}
	for {
		due, next, err := o.due(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			o.logger.ErrorContext(ctx, "read notification outbox", "error", err.Error())
			next = 5 * time.Second
		}
		for _, p := range due {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			o.deliver(ctx, hooks[p.webhook], p)
		}
		if len(due) > 0 {
			continue
		}
		timer := time.NewTimer(next)
		select {
		case <-ctx.Done():
			timer.Stop()
			return ctx.Err()
		case <-o.wake:
		case <-timer.C:
		}
		timer.Stop()
	}
}

// deliver sends one notification and records the outcome, on a context that shutdown does not cancel.
func (o *Outbox) deliver(ctx context.Context, h Webhook, p pending) {
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), o.timeout)
	defer cancel()
	err := h.Send(dctx, p.rowID, p.body)
	now := o.now().UnixNano()
	if err == nil {
		_, err = o.db.ExecContext(context.WithoutCancel(ctx), `UPDATE notifications SET delivered_at = ?, attempts = attempts + 1, last_error = '' WHERE row_id = ? AND webhook = ?`, now, p.rowID, p.webhook)
		if err != nil {
			o.logger.ErrorContext(ctx, "record notification delivery", "error", err.Error())
			return
		}
		o.logger.InfoContext(ctx, "notification delivered", "webhook", p.webhook, "row_id", p.rowID)
		return
	}
	wait := o.backoff.Delay(p.attempts)
	o.logger.WarnContext(ctx, "notification failed; will retry", "webhook", p.webhook, "row_id", p.rowID,
		"attempt", p.attempts+1, "retry_in", wait.String(), "error", err.Error())
	if _, uerr := o.db.ExecContext(context.WithoutCancel(ctx), `UPDATE notifications SET attempts = attempts + 1, next_attempt_at = ?, last_error = ? WHERE row_id = ? AND webhook = ?`,
		now+int64(wait), err.Error(), p.rowID, p.webhook); uerr != nil {
		o.logger.ErrorContext(ctx, "record notification failure", "error", uerr.Error())
	}
}

// due returns up to 50 notifications due now for the configured webhooks, or how long until the next
// one is due. A webhook no longer configured keeps its queue until it is configured again.
func (o *Outbox) due(ctx context.Context) ([]pending, time.Duration, error) {
	now := o.now().UnixNano()
	names := make([]any, 0, len(o.hooks)+1)
	names = append(names, now)
	marks := make([]string, 0, len(o.hooks))
	for _, h := range o.hooks {
		names = append(names, h.Name())
		marks = append(marks, "?")
	}
	in := "(" + strings.Join(marks, ", ") + ")"
	rows, err := o.db.QueryContext(ctx, `SELECT row_id, webhook, body, attempts FROM notifications
		WHERE delivered_at IS NULL AND next_attempt_at <= ? AND webhook IN `+in+` ORDER BY next_attempt_at, created_at LIMIT 50`, names...)
	if err != nil {
		return nil, 0, err
	}
	var out []pending
	for rows.Next() {
		var p pending
		if err := rows.Scan(&p.rowID, &p.webhook, &p.body, &p.attempts); err != nil {
			rows.Close()
			return nil, 0, err
		}
		out = append(out, p)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, 0, err
	}
	if len(out) > 0 {
		return out, 0, nil
	}
	var next sql.NullInt64
	if err := o.db.QueryRowContext(ctx, `SELECT MIN(next_attempt_at) FROM notifications WHERE delivered_at IS NULL AND webhook IN `+in, names[1:]...).Scan(&next); err != nil {
		return nil, 0, err
	}
	wait := 30 * time.Second
	if next.Valid {
		wait = min(max(time.Duration(next.Int64-now), 10*time.Millisecond), wait)
	}
	return nil, wait, nil
}
