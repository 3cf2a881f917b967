// Config and mode: global, per context and per subject.

package server

import (
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
		return registry.Config{CompatibilityLevel: s.st.global.CompatibilityLevel, Normalize: s.st.global.Normalize}, nil
	}
	cfg, ok := s.st.configs[name]
	if !ok {
		if !boolParam(r, "defaultToGlobal") {
			return nil, registry.Errorf(registry.CodeSubjectConfigNotFound, "Subject '%s' does not have subject-level compatibility configured", name)
		}
		cfg = s.st.global
	}
	return registry.Config{CompatibilityLevel: cfg.CompatibilityLevel, Normalize: cfg.Normalize}, nil
}

func (s *Server) putConfig(r *http.Request) (any, error) {
	name := r.PathValue("subject")
	var req registry.ConfigUpdate
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	level, err := evolution.ParseLevel(req.Compatibility)
	if err != nil {
		return nil, registry.Errorf(registry.CodeInvalidCompatibility, "Invalid compatibility level. Valid values are none, backward, forward, full, backward_transitive, forward_transitive, and full_transitive")
	}
	return s.write(r, func() ([]store.Record, any, error) {
		v := configValue{CompatibilityLevel: level.String()}
		if req.Normalize != nil {
			v.Normalize = *req.Normalize
		}
		var subj *string
		if name != "" {
			subj = strptr(name)
			v.Subject = subj
		}
		return []store.Record{store.Record{Key: subjectRecordKey("CONFIG", subj), Value: mustJSON(v)}}, registry.ConfigUpdate{Compatibility: level.String(), Normalize: req.Normalize}, nil
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
		return []store.Record{store.Record{Key: subjectRecordKey("CONFIG", subj)}}, registry.Config{CompatibilityLevel: old.CompatibilityLevel, Normalize: old.Normalize}, nil
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
