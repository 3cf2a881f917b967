// Leader forwarding: with a shared store, a follower sends writes to the
// leader and catches up with the log before answering.

package server

import (
	"context"
	"net/http"
	"net/http/httputil"
	"net/url"
	"time"

	"github.com/schemaflow/schemaflow/registry"
	"github.com/schemaflow/schemaflow/registry/store"
)

// Shared is a store that several servers share: they follow what the
// others write, and one of them, the leader, writes.
//
// A shared store's Append returns only once the records it wrote were
// applied through Follow's apply, and returns the *store.Rejected that
// apply gave for any of them.
type Shared interface {
	// Follow calls apply with every record of the log after those Load
	// read, in log order, this server's own included.
	Follow(apply func(store.Record) error) error
	// CatchUp waits until every record written so far was delivered.
	CatchUp(ctx context.Context) error
	// Leader reports whether this server writes, and the leader's URL.
	Leader(ctx context.Context) (self bool, url string, err error)
}

// forwardedHeader marks a write a follower forwarded to the leader.
const forwardedHeader = "X-Schemaflow-Forwarded"

// handleWrite registers a handler that changes the registry. With a shared
// store, a follower forwards it to the leader, and the leader first catches
// up with the log.
func (s *Server) handleWrite(pattern string, h handler) {
	s.handle(pattern, h, true)
}

func (s *Server) forward(w http.ResponseWriter, r *http.Request) bool {
	if s.shared == nil {
		return false
	}
	// During a rebalance no member holds the log's partition for a moment.
	ctx, cancel := context.WithTimeout(r.Context(), s.opts.StoreTimeout)
	defer cancel()
	self, leader, err := s.shared.Leader(ctx)
	for err != nil && ctx.Err() == nil {
		t := time.NewTimer(50 * time.Millisecond)
		select {
		case <-t.C:
		case <-ctx.Done():
		}
		t.Stop()
		self, leader, err = s.shared.Leader(ctx)
	}
	if err != nil {
		writeError(w, registry.Errorf(50004, "Unknown leader: %v", err))
		return true
	}
	if self {
		// The write itself catches up with the log (see write).
		return false
	}
	if r.Header.Get(forwardedHeader) != "" {
		writeError(w, registry.Errorf(50003, "Error while forwarding the request to the leader: this server is not the leader"))
		return true
	}
	target, err := url.Parse(leader)
	if err != nil {
		writeError(w, registry.Errorf(50004, "Unknown leader %q", leader))
		return true
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	// Read your writes: before the leader's answer goes back, this server
	// catches up with the log, so that what the client reads from it next
	// (srclient reads the id it just registered) is there.
	proxy.ModifyResponse = func(*http.Response) error {
		ctx, cancel := context.WithTimeout(r.Context(), s.opts.StoreTimeout)
		defer cancel()
		return s.shared.CatchUp(ctx)
	}
	proxy.ErrorHandler = func(w http.ResponseWriter, _ *http.Request, err error) {
		writeError(w, registry.Errorf(50003, "Error while forwarding the request to the leader: %v", err))
	}
	r.Header.Set(forwardedHeader, "1")
	proxy.ServeHTTP(w, r)
	return true
}
