package scan

import (
	"container/list"
	"sync"
	"time"

	imagev1 "github.com/scoutbridge/scoutbridge/gen/scoutbridge/image/v1"
)

// cache keeps finished reports for a TTL, at most size of them (the least recently used goes first).
type cache struct {
	mu    sync.Mutex
	ttl   time.Duration
	size  int
	now   func() time.Time
	order *list.List // front = most recent; values are *cacheEntry
	items map[string]*list.Element
}

type cacheEntry struct {
	key     string
	report  *imagev1.ScanReport
	expires time.Time
}

func newCache(ttl time.Duration, size int, now func() time.Time) *cache {
	return &cache{ttl: ttl, size: max(size, 1), now: now, order: list.New(), items: map[string]*list.Element{}}
}

func (c *cache) get(key string) *imagev1.ScanReport {
	if c.ttl <= 0 {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.items[key]
	if !ok {
		return nil
	}
	e := el.Value.(*cacheEntry)
	if !c.now().Before(e.expires) {
		c.order.Remove(el)
		delete(c.items, key)
		return nil
	}
	c.order.MoveToFront(el)
	return e.report
}

func (c *cache) put(key string, r *imagev1.ScanReport) {
	if c.ttl <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[key]; ok {
		c.order.Remove(el)
	}
	c.items[key] = c.order.PushFront(&cacheEntry{key: key, report: r, expires: c.now().Add(c.ttl)})
	for c.order.Len() > c.size {
		last := c.order.Back()
		c.order.Remove(last)
		delete(c.items, last.Value.(*cacheEntry).key)
	}
}

func (c *cache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len()
}
