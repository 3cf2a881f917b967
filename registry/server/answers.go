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

	"github.com/schemaflow/schemaflow/registry"
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
		return appendGetKey(buf, requestURI(r)), true, nil
	case http.MethodPost:
		if !isLookupPath(r.URL.Path) {
			return nil, false, nil
		}
		buf = appendPostKeyHead(buf, requestURI(r), r.Header.Get("Content-Type"))
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

// isLookupPath reports whether a POST to path is a lookup: POST
// /subjects/{subject} or /contexts/{ctx}/subjects/{subject}.
// Registrations (/versions) and compatibility checks are not cached.
func isLookupPath(p string) bool {
	return (strings.HasPrefix(p, "/subjects/") || strings.HasPrefix(p, "/contexts/")) && !strings.HasSuffix(p, "/versions")
}

// appendGetKey appends the key of a GET of uri.
func appendGetKey[S string | []byte](buf []byte, uri S) []byte {
	return append(append(buf, "GET "...), uri...)
}

// appendPostKeyHead appends the key of a lookup POSTed to uri with a
// Content-Type, up to its body, which follows.
func appendPostKeyHead[S string | []byte](buf []byte, uri, contentType S) []byte {
	buf = append(append(buf, "POST "...), uri...)
	buf = append(buf, 0)
	buf = append(buf, contentType...)
	return append(buf, 0)
}

// CachedAnswer returns the precomputed answer to a request, for a server
// that parses HTTP itself (see registry/httpfast): the request's method,
// its target as the client sent it (the request line's URI), its
// Content-Type and body. ok is false when no answer is kept for the
// request: it is not a read or a lookup, or it has not been answered
// since the state last changed; serve it with ServeHTTP, which keeps its
// answer for the next identical request. An answer is always status 200;
// body must not be modified.
//
// Answers are kept by ServeHTTP under the same key, so an answer found
// here is the one ServeHTTP would give: a request it does not cache
// never finds one.
func (s *Server) CachedAnswer(method, requestURI, contentType, body []byte) (answerContentType string, answerBody []byte, ok bool) {
	bp := keyPool.Get().(*[]byte)
	defer func() {
		if cap(*bp) <= 64<<10 {
			keyPool.Put(bp)
		}
	}()
	var key []byte
	switch string(method) {
	case http.MethodGet:
		key = appendGetKey((*bp)[:0], requestURI)
	case http.MethodPost:
		path, _, _ := bytes.Cut(requestURI, []byte("?"))
		if !isLookupPath(string(path)) || int64(len(body)) > s.opts.MaxBodyBytes {
			return "", nil, false
		}
		key = append(appendPostKeyHead((*bp)[:0], requestURI, contentType), body...)
	default:
		return "", nil, false
	}
	*bp = key
	ans, _ := s.answers.get(key)
	if ans == nil {
		return "", nil, false
	}
	return ans.contentType[0], ans.body, true
}

// MaxBodyBytes is the largest request body the server reads
// (Options.MaxBodyBytes); past it a request answers 413.
func (s *Server) MaxBodyBytes() int64 { return s.opts.MaxBodyBytes }

// TooLargeError is the error a request whose body is past MaxBodyBytes
// answers (status 413), for a server that reads bodies itself.
func (s *Server) TooLargeError() *registry.Error { return errTooLarge(s.opts.MaxBodyBytes) }

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
