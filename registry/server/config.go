// Config and mode: global, per context and per subject.

package server

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/schemaflow/schemaflow/evolution"
	"github.com/schemaflow/schemaflow/registry"
	"github.com/schemaflow/schemaflow/registry/store"
)

func (s *Server) getConfig(r *http.Request) (any, error) {
	name := r.PathValue("subject")
	s.mu.RLock()
	defer s.mu.RUnlock()
	if name == "" {
		return s.st.global.public(), nil
	}
	cfg, ok := s.st.configs[name]
	if !ok {
		if !boolParam(r, "defaultToGlobal") {
			return nil, registry.Errorf(registry.CodeSubjectConfigNotFound, "Subject '%s' does not have subject-level compatibility configured", name)
		}
		cfg = s.st.global
	}
	out := cfg.public()
	if out.CompatibilityLevel == "" {
		// A config that sets only data-contract fields: the level in force.
		out.CompatibilityLevel = s.levelLocked(name).String()
	}
	return out, nil
}

// objectOrNil checks that a config field is a JSON object; null or absent
// is nil.
func objectOrNil(name string, raw json.RawMessage) (json.RawMessage, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil, nil
	}
	var obj map[string]any
	if err := json.Unmarshal(raw, &obj); err != nil {
		return nil, registry.Errorf(registry.CodeInvalidSchema, "Invalid %s: want a JSON object: %v", name, err)
	}
	return compactMarshal(obj)
}

// putConfig answers PUT /config[/{subject}]. As in Confluent, fields the
// request leaves out keep the value they had.
func (s *Server) putConfig(r *http.Request) (any, error) {
	name := r.PathValue("subject")
	var req registry.ConfigUpdate
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	level := ""
	if req.Compatibility != "" {
		l, err := evolution.ParseLevel(req.Compatibility)
		if err != nil {
			return nil, registry.Errorf(registry.CodeInvalidCompatibility, "Invalid compatibility level. Valid values are none, backward, forward, full, backward_transitive, forward_transitive, and full_transitive")
		}
		level = l.String()
	}
	fields := []struct {
		name string
		raw  *json.RawMessage
	}{{"defaultMetadata", &req.DefaultMetadata}, {"overrideMetadata", &req.OverrideMetadata}, {"defaultRuleSet", &req.DefaultRuleSet}, {"overrideRuleSet", &req.OverrideRuleSet}}
	for _, f := range fields {
		v, err := objectOrNil(f.name, *f.raw)
		if err != nil {
			return nil, err
		}
		*f.raw = v
	}
	return s.write(r, func() ([]store.Record, any, error) {
		v, ok := s.st.configs[name]
		if name == "" {
			v, ok = s.st.global, true
		}
		if !ok {
			v = configValue{}
		}
		if level != "" {
			v.CompatibilityLevel = level
		}
		if req.Normalize != nil {
			v.Normalize = *req.Normalize
		}
		for _, f := range []struct {
			in  json.RawMessage
			out *json.RawMessage
		}{{req.DefaultMetadata, &v.DefaultMetadata}, {req.OverrideMetadata, &v.OverrideMetadata}, {req.DefaultRuleSet, &v.DefaultRuleSet}, {req.OverrideRuleSet, &v.OverrideRuleSet}} {
			if f.in != nil {
				*f.out = f.in
			}
		}
		var subj *string
		if name != "" {
			subj = strptr(name)
			v.Subject = subj
		}
		out := req
		out.Compatibility = level
		return []store.Record{{Key: subjectRecordKey("CONFIG", subj), Value: mustJSON(v)}}, out, nil
	})
}

func (s *Server) deleteConfig(r *http.Request) (any, error) {
	name := r.PathValue("subject")
	return s.write(r, func() ([]store.Record, any, error) {
		old := s.st.global
		var subj *string
		if name != "" {
			cfg, ok := s.st.configs[name]
			if !ok {
				return nil, nil, registry.Errorf(registry.CodeSubjectNotFound, "Subject '%s' not found.", name)
			}
			old, subj = cfg, strptr(name)
		}
		return []store.Record{{Key: subjectRecordKey("CONFIG", subj)}}, old.public(), nil
	})
}

func (s *Server) getMode(r *http.Request) (any, error) {
	name := r.PathValue("subject")
	s.mu.RLock()
	defer s.mu.RUnlock()
	if name == "" {
		return registry.Mode{Mode: s.st.modeAll}, nil
	}
	m, ok := s.st.modes[name]
	if !ok {
		if !boolParam(r, "defaultToGlobal") {
			return nil, registry.Errorf(registry.CodeSubjectModeNotFound, "Subject '%s' does not have subject-level mode configured", name)
		}
		m = s.st.modeAll
	}
	return registry.Mode{Mode: m}, nil
}

func (s *Server) putMode(r *http.Request) (any, error) {
	name := r.PathValue("subject")
	var req registry.Mode
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	mode := strings.ToUpper(req.Mode)
	if mode != registry.ModeReadWrite && mode != registry.ModeReadOnly && mode != registry.ModeImport {
		return nil, registry.Errorf(registry.CodeInvalidMode, "Invalid mode. Valid values are READWRITE, READONLY, IMPORT and FORWARD.")
	}
	return s.write(r, func() ([]store.Record, any, error) {
		if mode == registry.ModeImport && !boolParam(r, "force") {
			for sname, sub := range s.st.subjects {
				if (name == "" || sname == name) && sub.live() {
					return nil, nil, registry.Errorf(registry.CodeOperationNotPermitted, "Cannot import since found existing subjects")
				}
			}
		}
		var subj *string
		if name != "" {
			subj = strptr(name)
		}
		return []store.Record{store.Record{Key: subjectRecordKey("MODE", subj), Value: mustJSON(modeValue{Subject: subj, Mode: mode})}}, registry.Mode{Mode: mode}, nil
	})
}

func (s *Server) deleteMode(r *http.Request) (any, error) {
	name := r.PathValue("subject")
	return s.write(r, func() ([]store.Record, any, error) {
		old := s.st.modeAll
		var subj *string
		if name != "" {
			m, ok := s.st.modes[name]
			if !ok {
				return nil, nil, registry.Errorf(registry.CodeSubjectNotFound, "Subject '%s' not found.", name)
			}
			old, subj = m, strptr(name)
		}
		return []store.Record{store.Record{Key: subjectRecordKey("MODE", subj)}}, registry.Mode{Mode: old}, nil
	})
}
