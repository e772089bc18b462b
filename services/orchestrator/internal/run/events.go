package run

import (
	"errors"
	"sync"
	"time"

	orchestratorv1 "github.com/scoutbridge/scoutbridge/gen/scoutbridge/orchestrator/v1"
)

// EventType says what happened.
type EventType = orchestratorv1.RunEventType

// Event types.
const (
	EventSnapshot        = orchestratorv1.RunEventType_RUN_EVENT_TYPE_SNAPSHOT
	EventDiscovered      = orchestratorv1.RunEventType_RUN_EVENT_TYPE_DISCOVERED
	EventScanStarted     = orchestratorv1.RunEventType_RUN_EVENT_TYPE_SCAN_STARTED
	EventScanFinished    = orchestratorv1.RunEventType_RUN_EVENT_TYPE_SCAN_FINISHED
	EventImageFailed     = orchestratorv1.RunEventType_RUN_EVENT_TYPE_IMAGE_FAILED
	EventIngested        = orchestratorv1.RunEventType_RUN_EVENT_TYPE_INGESTED
	EventSkipped         = orchestratorv1.RunEventType_RUN_EVENT_TYPE_SKIPPED
	EventRunFinished     = orchestratorv1.RunEventType_RUN_EVENT_TYPE_RUN_FINISHED
	EventNamespaceFailed = orchestratorv1.RunEventType_RUN_EVENT_TYPE_NAMESPACE_FAILED
)

// Event is one step of a run, as WatchRun shows it.
type Event struct {
	Type    EventType
	Time    time.Time
	Image   *Image // a copy, when the event is about one image
	Run     *Run   // the run with its counts after the event
	Message string
}

// ErrWatcherTooSlow ends a watch whose reader fell too far behind.
var ErrWatcherTooSlow = errors.New("watcher fell behind the run's events; watch again for a fresh snapshot")

// watcherBuffer is how many events a watcher may lag before it is dropped.
const watcherBuffer = 4096

// broadcaster fans a run's events out to its watchers. Publishing never blocks the run: a watcher that
// lags by more than watcherBuffer events is closed and told so.
type broadcaster struct {
	mu     sync.Mutex
	subs   map[*watcher]struct{}
	closed bool
}

type watcher struct {
	ch     chan Event
	lagged bool
}

func newBroadcaster() *broadcaster { return &broadcaster{subs: map[*watcher]struct{}{}} }

// subscribe adds a watcher; ok is false once the run has finished.
func (b *broadcaster) subscribe() (*watcher, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, false
	}
	w := &watcher{ch: make(chan Event, watcherBuffer)}
	b.subs[w] = struct{}{}
	return w, true
}

func (b *broadcaster) unsubscribe(w *watcher) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.subs[w]; ok {
		delete(b.subs, w)
		close(w.ch)
	}
}

// hasWatchers lets the publisher skip building run snapshots nobody reads.
func (b *broadcaster) hasWatchers() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.subs) > 0
}

func (b *broadcaster) publish(ev Event) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for w := range b.subs {
		select {
		case w.ch <- ev:
		default:
			w.lagged = true
			delete(b.subs, w)
			close(w.ch)
		}
	}
}

// close ends every watch after the final event.
func (b *broadcaster) close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	for w := range b.subs {
		delete(b.subs, w)
		close(w.ch)
	}
}
