// Deletes of subjects and versions, soft and permanent.

package server

import (
	"io"
	"net/http"
	"strings"

	"github.com/schemaflow/schemaflow/registry"
	"github.com/schemaflow/schemaflow/registry/store"
)

func (s *Server) deleteSubject(r *http.Request) (any, error) {
	name := r.PathValue("subject")
	permanent := boolParam(r, "permanent")
	return s.write(r, func() ([]store.Record, any, error) {
		if s.modeLocked(name) == registry.ModeReadOnly {
			return nil, nil, registry.Errorf(registry.CodeOperationNotPermitted, "Subject %s is in read-only mode", name)
		}
		sub, err := s.subjectLocked(name)
		if err != nil {
			return nil, nil, err
		}
		all := sub.sortedVersions(true)
		for _, v := range all {
			if refs := s.liveReferrers(contextOf(name), sub.versions[v].id); len(refs) > 0 {
				return nil, nil, registry.Errorf(registry.CodeReferenceExists, "One or more references exist to the schema {subject=%s,version=%d}.", name, v)
			}
		}
		if permanent {
			if sub.live() {
				return nil, nil, registry.Errorf(registry.CodeSubjectNotSoftDeleted, "Subject '%s' was not deleted first before being permanently deleted", name)
			}
			var recs []store.Record
			for i := len(all) - 1; i >= 0; i-- {
				recs = append(recs, schemaTombstone(name, all[i]))
			}
			if _, ok := s.st.configs[name]; ok {
				recs = append(recs, store.Record{Key: subjectRecordKey("CONFIG", strptr(name))})
			}
			if _, ok := s.st.modes[name]; ok {
				recs = append(recs, store.Record{Key: subjectRecordKey("MODE", strptr(name))})
			}
			return recs, all, nil
		}
		live := sub.sortedVersions(false)
		if len(live) == 0 {
			return nil, nil, registry.Errorf(registry.CodeSubjectSoftDeleted, "Subject '%s' was soft deleted.Set permanent=true to delete permanently", name)
		}
		rec := store.Record{Key: subjectRecordKey("DELETE_SUBJECT", strptr(name)), Value: mustJSON(deleteSubjectValue{Subject: name, Version: all[len(all)-1]})}
		return []store.Record{rec}, live, nil
	})
}

// liveReferrers returns the ids of live schemas, in the context ctx, that
// reference schema id.
func (s *Server) liveReferrers(ctx string, id int) []int {
	var out []int
	for ref := range s.st.refersTos[idKey{ctx, id}] {
		if len(s.usesOfID(ctx, ref, false)) > 0 {
			out = append(out, ref)
		}
	}
	return out
}

func (s *Server) deleteVersion(r *http.Request) (any, error) {
	name := r.PathValue("subject")
	v, err := versionParam(r)
	if err != nil {
		return nil, err
	}
	permanent := boolParam(r, "permanent")
	return s.write(r, func() ([]store.Record, any, error) {
		if s.modeLocked(name) == registry.ModeReadOnly {
			return nil, nil, registry.Errorf(registry.CodeOperationNotPermitted, "Subject %s is in read-only mode", name)
		}
		// "latest" is the latest live version; a numbered one is found even
		// when soft-deleted, so that deleting it again says so.
		n, ver, err := s.resolveVersion(name, v, v != -1)
		if err != nil {
			return nil, nil, err
		}
		if refs := s.liveReferrers(contextOf(name), ver.id); len(refs) > 0 {
			return nil, nil, registry.Errorf(registry.CodeReferenceExists, "One or more references exist to the schema {subject=%s,version=%d}.", name, n)
		}
		var rec store.Record
		switch {
		case permanent && !ver.deleted:
			return nil, nil, registry.Errorf(registry.CodeVersionNotSoftDeleted, "Subject '%s' Version %d was not deleted first before being permanently deleted", name, n)
		case permanent:
			rec = schemaTombstone(name, n)
		case ver.deleted:
			return nil, nil, registry.Errorf(registry.CodeVersionSoftDeleted, "Subject '%s' Version %d was soft deleted.Set permanent=true to delete permanently", name, n)
		default:
			sc := s.st.schema(name, ver.id)
			rec = schemaRecord(schemaValue{Subject: name, Version: n, ID: ver.id, Schema: sc.text, SchemaType: sc.schemaType, References: sc.refs, Metadata: sc.metadata, RuleSet: sc.ruleSet, Deleted: true})
		}
		return []store.Record{rec}, n, nil
	})
}

// deleteContext answers DELETE /contexts/{context}, as Confluent: a
// context that holds no subject, not even a soft-deleted one, is deleted
// (its CONTEXT record gets a tombstone) and the answer is 204 with no
// body; otherwise 42211. A context with no record is deleted the same, as
// Confluent's delete of an absent key is.
func (s *Server) deleteContext(r *http.Request) (any, error) {
	ctx := r.PathValue("context")
	if ctx != DefaultContext && !strings.HasPrefix(ctx, ".") {
		ctx = "." + ctx
	}
	if strings.ContainsAny(ctx[1:], ":") || (ctx != DefaultContext && len(ctx) < 2) {
		return nil, registry.Errorf(registry.CodeInvalidSubject, "The specified context '%s' is not valid.", r.PathValue("context"))
	}
	return s.write(r, func() ([]store.Record, any, error) {
		for name := range s.st.subjects {
			if contextOf(name) == ctx {
				return nil, nil, registry.Errorf(registry.CodeContextNotEmpty, "The specified context '%s' is not empty.", ctx)
			}
		}
		if !s.st.contexts[ctx] {
			return nil, noContent{}, nil
		}
		return []store.Record{{Key: contextRecordKey(ctx)}}, noContent{}, nil
	})
}

// serveDefaultContextRoot answers /contexts/. (and /contexts/./), which
// Go's ServeMux would redirect to /contexts/ as an unclean path. Confluent's
// ContextFilter rewrites a /contexts/{ctx} URL naming the default context
// to the root path (its modifyUriPath leaves nothing of it), so there
// GET and POST answer the root resource's {} and any other method, DELETE
// included, is refused with 405: the default context cannot be deleted.
// It reports whether the request was such a path.
func (s *Server) serveDefaultContextRoot(w http.ResponseWriter, r *http.Request) bool {
	if r.URL.Path != "/contexts/." && r.URL.Path != "/contexts/./" {
		return false
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodPost:
		w.Header()["Content-Type"] = contentTypeJSON
		w.WriteHeader(http.StatusOK)
		if r.Method != http.MethodHead {
			_, _ = io.WriteString(w, "{}\n") // as the root GET is encoded
		}
	default:
		w.Header().Set("Allow", "GET, HEAD, POST")
		writeError(w, &registry.Error{Status: http.StatusMethodNotAllowed, Code: http.StatusMethodNotAllowed, Message: "HTTP 405 Method Not Allowed"})
	}
	return true
}
