// Package store is the ingest service's embedded SQLite store: scans, their events, the findings index
// that ListFindings and ExportFindings read, and what makes delivery durable. The events table is
// itself the transactional outbox: every event gets a monotonically increasing seq in the transaction
// that stores it, and each sink keeps a cursor (the highest seq it has acknowledged). A committed scan
// is therefore never lost on its way to a sink, whatever happens to the process, and queuing an event
// for a sink costs no write at all.
package store

// migrations are applied in order by pkg/sqlitedb; never edit one that has shipped. (Migration 1 was
// rewritten before the first release: the pre-release schema had one outbox row per (event, sink);
// Open refuses such a database with a clear error.)
var migrations = []string{`
CREATE TABLE scans (
	scan_id          TEXT PRIMARY KEY,
	registry         TEXT NOT NULL,
	repository       TEXT NOT NULL,
	digest           TEXT NOT NULL,
	tags             TEXT NOT NULL,    -- JSON array
	platform_digests TEXT NOT NULL,    -- JSON array
	provider         TEXT NOT NULL,
	completed_at     INTEGER NOT NULL, -- unix ms
	ingested_at      INTEGER NOT NULL, -- unix ms
	finding_count    INTEGER NOT NULL
);
CREATE TABLE scan_platforms (
	digest  TEXT NOT NULL,
	scan_id TEXT NOT NULL,
	PRIMARY KEY (digest, scan_id)
) WITHOUT ROWID;

-- Every event as posted (compact JSON). seq is the ingest order: AUTOINCREMENT, so a seq is never
-- reused, and one writer connection, so events become visible to readers in seq order. Both make
-- "every event with seq > cursor" exactly the events a sink has not acknowledged.
CREATE TABLE events (
	seq      INTEGER PRIMARY KEY AUTOINCREMENT,
	event_id TEXT NOT NULL,
	scan_id  TEXT NOT NULL,
	type     TEXT NOT NULL,
	body     BLOB NOT NULL
);

-- One row per VULNERABILITY_FINDING event; seq is the event's seq (monotonic, ExportFindings follows it).
CREATE TABLE findings (
	seq              INTEGER PRIMARY KEY,
	finding_id       TEXT NOT NULL,
	event_id         TEXT NOT NULL,
	scan_id          TEXT NOT NULL,
	registry         TEXT NOT NULL,
	repository       TEXT NOT NULL,
	digest           TEXT NOT NULL,
	vulnerability_id TEXT NOT NULL,
	title            TEXT NOT NULL,
	package_name     TEXT NOT NULL,
	package_version  TEXT NOT NULL,
	purl             TEXT NOT NULL,
	severity         TEXT NOT NULL,
	risk_level       INTEGER NOT NULL,
	risk_score       REAL NOT NULL,
	fixed_versions   TEXT NOT NULL, -- JSON array
	detected_at      INTEGER NOT NULL, -- unix ms
	provider         TEXT NOT NULL
);
CREATE INDEX findings_repository    ON findings (repository, seq);
CREATE INDEX findings_digest        ON findings (digest, seq);
CREATE INDEX findings_vulnerability ON findings (vulnerability_id, seq);
CREATE INDEX findings_risk_level    ON findings (risk_level, seq);
CREATE INDEX findings_provider      ON findings (provider, seq);
CREATE INDEX findings_detected_at   ON findings (detected_at);
CREATE INDEX findings_scan          ON findings (scan_id);

-- Per sink: the highest events.seq it has acknowledged (or dead-lettered). Created by the first
-- ingest after the sink was configured, just below that scan's events.
CREATE TABLE sink_cursors (
	sink          TEXT PRIMARY KEY,
	delivered_seq INTEGER NOT NULL
) WITHOUT ROWID;

-- Dead-lettered events queued again by RedriveDeadLetters (delivered before the cursor's events).
CREATE TABLE redrive_queue (
	id        INTEGER PRIMARY KEY AUTOINCREMENT,
	sink      TEXT NOT NULL,
	event_seq INTEGER NOT NULL,
	queued_at INTEGER NOT NULL -- unix ms
);
CREATE INDEX redrive_queue_sink ON redrive_queue (sink, id);

-- Batches a sink refused (HTTP 400), with its answer; re-driven by hand only.
CREATE TABLE dead_letters (
	id          INTEGER PRIMARY KEY AUTOINCREMENT,
	sink        TEXT NOT NULL,
	status_code INTEGER NOT NULL,
	response    TEXT NOT NULL,
	event_count INTEGER NOT NULL,
	created_at  INTEGER NOT NULL
);
CREATE INDEX dead_letters_sink ON dead_letters (sink, id);
CREATE TABLE dead_letter_events (
	dead_letter_id INTEGER NOT NULL REFERENCES dead_letters (id) ON DELETE CASCADE,
	event_seq      INTEGER NOT NULL,
	PRIMARY KEY (dead_letter_id, event_seq)
) WITHOUT ROWID;

-- Counters kept in the same transactions as the rows they count (so stats never scan millions of rows).
CREATE TABLE counters (
	name  TEXT PRIMARY KEY,
	value INTEGER NOT NULL
) WITHOUT ROWID;
`}
