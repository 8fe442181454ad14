package symbolicator

import (
	"container/list"
	"sync"
)

// lruCache is a least-recently-used cache bounded by the summed cost
// (bytes) of its entries. An entry costing more than the bound is not kept.
type lruCache[V any] struct {
	mu    sync.Mutex
	max   int64
	size  int64
	order *list.List // front: most recently used
	items map[string]*list.Element
}

type lruEntry[V any] struct {
	key  string
	val  V
	cost int64
}

func newLRU[V any](maxBytes int64) *lruCache[V] {
	return &lruCache[V]{max: maxBytes, order: list.New(), items: map[string]*list.Element{}}
}

func (c *lruCache[V]) get(key string) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[key]; ok {
		c.order.MoveToFront(el)
		return el.Value.(*lruEntry[V]).val, true
	}
	var zero V
	return zero, false
}

func (c *lruCache[V]) add(key string, val V, cost int64) {
	if cost < 0 {
		cost = 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[key]; ok {
		e := el.Value.(*lruEntry[V])
		c.size -= e.cost
		c.order.Remove(el)
		delete(c.items, key)
	}
	if cost > c.max {
		return
	}
	c.items[key] = c.order.PushFront(&lruEntry[V]{key: key, val: val, cost: cost})
	c.size += cost
	for c.size > c.max {
		last := c.order.Back()
		e := last.Value.(*lruEntry[V])
		c.order.Remove(last)
		delete(c.items, e.key)
		c.size -= e.cost
	}
}

// stats returns the number of entries and their summed cost.
func (c *lruCache[V]) stats() (int, int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.items), c.size
}
