package registry

import (
	"container/list"
	"sync"
)

// idCache keeps schemas by id, least recently used first out, within a
// bound in bytes.
type idCache struct {
	mu    sync.Mutex
	max   int64
	bytes int64
	byID  map[int]*list.Element
	lru   list.List // front: most recently used; values are *cacheEntry
}

type cacheEntry struct {
	id   int
	s    SchemaString
	size int64
}

// entryOverhead approximates what an entry costs beyond its strings: the
// map slot, the list element and the struct.
const entryOverhead = 160

// sizeOf is what a schema is counted as in the cache.
func sizeOf(s SchemaString) int64 {
	n := int64(entryOverhead + len(s.Schema) + len(s.SchemaType) + len(s.Metadata) + len(s.RuleSet))
	for _, r := range s.References {
		n += int64(len(r.Name) + len(r.Subject) + 32)
	}
	return n
}

func newIDCache(max int64) *idCache {
	return &idCache{max: max, byID: map[int]*list.Element{}}
}

func (c *idCache) get(id int) (SchemaString, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.byID[id]
	if !ok {
		return SchemaString{}, false
	}
	c.lru.MoveToFront(e)
	return e.Value.(*cacheEntry).s, true
}

// put keeps a schema, dropping the least recently used ones to make room.
// A schema larger than the whole bound is not kept.
func (c *idCache) put(id int, s SchemaString) {
	size := sizeOf(s)
	c.mu.Lock()
	defer c.mu.Unlock()
	if size > c.max {
		return
	}
	if e, ok := c.byID[id]; ok {
		c.bytes -= e.Value.(*cacheEntry).size
		c.lru.Remove(e)
		delete(c.byID, id)
	}
	for c.bytes+size > c.max {
		last := c.lru.Back()
		old := last.Value.(*cacheEntry)
		c.lru.Remove(last)
		delete(c.byID, old.id)
		c.bytes -= old.size
	}
	c.byID[id] = c.lru.PushFront(&cacheEntry{id: id, s: s, size: size})
	c.bytes += size
}
