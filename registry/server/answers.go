// Precomputed answers: the bytes of every successful read, served again
// without routing, locking the state or encoding JSON.

package server

import (
	"bytes"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
)

// DefaultAnswerCacheBytes is the AnswerCacheBytes used when none is given.
const DefaultAnswerCacheBytes = 64 << 20

// answer is a response ready to write.
type answer struct {
	contentType []string // shared, never modified
	length      []string
	body        []byte
}

// Content types, shared by every response header that carries them.
var (
	contentTypeJSON = []string{"application/vnd.schemaregistry.v1+json"}
	contentTypeText = []string{"text/plain; charset=utf-8"}
)

// answers holds the precomputed answers of successful reads (every GET, and
// lookups: POST /subjects/{subject}), keyed by method, request URI and, for
// a lookup, its Content-Type and body. A read is a function of the state
// and the request alone, so an answer stays right until the state changes:
// every applied record clears the cache. Its size, keys and bodies, is
// bounded by max bytes; past it new answers are computed but not kept.
type answers struct {
	mu    sync.RWMutex
	m     map[string]*answer
	gen   uint64 // incremented by every clear
	bytes int64
	max   int64
}

func newAnswers(max int64) *answers { return &answers{m: map[string]*answer{}, max: max} }

// get returns the answer under key and the cache's generation, to be given
// to put when the answer is not there.
func (a *answers) get(key []byte) (*answer, uint64) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.m[string(key)], a.gen
}

// put keeps an answer computed while the cache was at generation gen,
// unless the state changed since then or the cache is full.
func (a *answers) put(key []byte, gen uint64, ans *answer) {
	size := int64(len(key) + len(ans.body) + 64)
	a.mu.Lock()
	defer a.mu.Unlock()
	if gen != a.gen || a.bytes+size > a.max {
		return
	}
	if _, ok := a.m[string(key)]; !ok {
		a.m[string(key)] = ans
		a.bytes += size
	}
}

// clear drops every answer; callers hold the server's write lock, so no
// read computes an answer on the state being changed.
func (a *answers) clear() {
	a.mu.Lock()
	defer a.mu.Unlock()
	clear(a.m)
	a.bytes = 0
	a.gen++
}

var keyPool = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// answerKey builds the cache key of a request into buf, reading a lookup's
// body. ok is false for requests that are not cached. A body read here is
// put back into r.Body for the handler.
func (s *Server) answerKey(buf []byte, r *http.Request) (key []byte, ok bool, err error) {
	switch r.Method {
	case http.MethodGet:
		return append(append(buf, "GET "...), requestURI(r)...), true, nil
	case http.MethodPost:
		// POST /subjects/{subject} or /contexts/{ctx}/subjects/{subject}:
		// a lookup. Registrations (/versions) and compatibility checks
		// are not cached.
		p := r.URL.Path
		if !(strings.HasPrefix(p, "/subjects/") || strings.HasPrefix(p, "/contexts/")) || strings.HasSuffix(p, "/versions") {
			return nil, false, nil
		}
		buf = append(append(buf, "POST "...), requestURI(r)...)
		buf = append(buf, 0)
		buf = append(buf, r.Header.Get("Content-Type")...)
		buf = append(buf, 0)
		n := len(buf)
		buf, err = readLimited(buf, r.Body, s.opts.MaxBodyBytes)
		if err != nil {
			return nil, false, err
		}
		r.Body = io.NopCloser(bytes.NewReader(buf[n:]))
		return buf, true, nil
	}
	return nil, false, nil
}

// requestURI is the request's target as the client sent it, or as its URL
// gives it for a request built in process.
func requestURI(r *http.Request) string {
	if r.RequestURI != "" {
		return r.RequestURI
	}
	return r.URL.RequestURI()
}

// readLimited appends what r holds to buf, at most limit bytes; past that
// it answers 413.
func readLimited(buf []byte, r io.Reader, limit int64) ([]byte, error) {
	start := len(buf)
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if int64(len(buf)-start) > limit {
			return nil, errTooLarge(limit)
		}
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return nil, errBadBody(err)
		}
	}
}

// serveCached answers a request from the cache, or serves it and keeps its
// answer. It reports false when the request is not one it caches.
func (s *Server) serveCached(w http.ResponseWriter, r *http.Request) bool {
	bp := keyPool.Get().(*[]byte)
	defer func() {
		if cap(*bp) <= 64<<10 {
			keyPool.Put(bp)
		}
	}()
	key, ok, err := s.answerKey((*bp)[:0], r)
	if key != nil {
		*bp = key
	}
	if err != nil {
		writeError(w, asRegistryError(err))
		return true
	}
	if !ok {
		return false
	}
	ans, gen := s.answers.get(key)
	if ans != nil {
		h := w.Header()
		h["Content-Type"] = ans.contentType
		h["Content-Length"] = ans.length
		_, _ = w.Write(ans.body)
		return true
	}
	rec := &recorder{ResponseWriter: w}
	s.serve(rec, r)
	if rec.status == http.StatusOK && rec.contentType != nil {
		// The key's buffer goes back to the pool; the cache keeps a copy.
		s.answers.put(bytes.Clone(key), gen, &answer{contentType: rec.contentType, length: []string{strconv.Itoa(len(rec.body))}, body: rec.body})
	}
	return true
}

// recorder passes a response through and keeps a copy of it.
type recorder struct {
	http.ResponseWriter
	status      int
	contentType []string
	body        []byte
}

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
		switch r.Header().Get("Content-Type") {
		case contentTypeJSON[0]:
			r.contentType = contentTypeJSON
		case contentTypeText[0]:
			r.contentType = contentTypeText
		}
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.WriteHeader(http.StatusOK)
	}
	r.body = append(r.body, b...)
	return r.ResponseWriter.Write(b)
}
