// Data contracts: metadata and rule sets merged from config defaults, the
// request (or the previous version) and config overrides, as Confluent
// merges them.

package server

import (
	"bytes"
	"encoding/json"
	"slices"
	"strconv"
)

// contractConfig is the part of a config that shapes data contracts.
type contractConfig struct {
	defaultMetadata, overrideMetadata json.RawMessage
	defaultRuleSet, overrideRuleSet   json.RawMessage
}

// mergeContract gives a new version's metadata and rule set as Confluent's
// maybeSetMetadataRuleSet does: the request's own, else the previous
// version's, merged over the config's default and under its override.
// With an explicit version, or when the metadata already carries
// confluent:version, that property is set to the new version; version 0
// (a lookup) leaves it as it is.
func mergeContract(cfg contractConfig, metadata, ruleSet, prevMetadata, prevRuleSet json.RawMessage, version int, explicitVersion bool) (json.RawMessage, json.RawMessage, error) {
	if len(metadata) == 0 {
		metadata = prevMetadata
	}
	if len(ruleSet) == 0 {
		ruleSet = prevRuleSet
	}
	m, err := mergeObjects(cfg.defaultMetadata, metadata, mergeMetadataField)
	if err == nil {
		m, err = mergeObjects(m, cfg.overrideMetadata, mergeMetadataField)
	}
	if err != nil {
		return nil, nil, err
	}
	rs, err := mergeObjects(cfg.defaultRuleSet, ruleSet, mergeRuleSetField)
	if err == nil {
		rs, err = mergeObjects(rs, cfg.overrideRuleSet, mergeRuleSetField)
	}
	if err != nil {
		return nil, nil, err
	}
	if version > 0 && (explicitVersion || hasConfluentVersion(m)) {
		if m, err = setConfluentVersion(m, version); err != nil {
			return nil, nil, err
		}
	}
	return m, rs, nil
}

// mergeObjects merges two JSON objects: absent ones give the other, and
// field by field, merge decides (the newer value wins by default).
func mergeObjects(old, new json.RawMessage, merge func(key string, old, new any) any) (json.RawMessage, error) {
	if len(old) == 0 {
		return new, nil
	}
	if len(new) == 0 {
		return old, nil
	}
	var o, n map[string]any
	if err := json.Unmarshal(old, &o); err != nil {
		return nil, err
	}
	if err := json.Unmarshal(new, &n); err != nil {
		return nil, err
	}
	for k, nv := range n {
		if ov, ok := o[k]; ok {
			o[k] = merge(k, ov, nv)
		} else {
			o[k] = nv
		}
	}
	return compactMarshal(o)
}

func compactMarshal(v any) (json.RawMessage, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// isEmpty is Confluent's test for a map, set or list that merges as absent.
func isEmpty(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case map[string]any:
		return len(x) == 0
	case []any:
		return len(x) == 0
	}
	return false
}

// mergeMetadataField merges Metadata's fields: tags and properties key by
// key (the newer wins), sensitive as a sorted set.
func mergeMetadataField(key string, old, new any) any {
	switch {
	case isEmpty(old):
		return new
	case isEmpty(new):
		return old
	}
	switch key {
	case "tags", "properties":
		o, ok1 := old.(map[string]any)
		n, ok2 := new.(map[string]any)
		if ok1 && ok2 {
			for k, v := range n {
				o[k] = v
			}
			return o
		}
	case "sensitive":
		o, ok1 := old.([]any)
		n, ok2 := new.([]any)
		if ok1 && ok2 {
			var set []string
			for _, v := range append(o, n...) {
				if s, ok := v.(string); ok && !slices.Contains(set, s) {
					set = append(set, s)
				}
			}
			slices.Sort(set)
			out := make([]any, len(set))
			for i, s := range set {
				out[i] = s
			}
			return out
		}
	}
	return new
}

// mergeRuleSetField merges RuleSet's rule lists: the old rules not named
// in the new list, then the new list; enableAt the newer unless absent.
func mergeRuleSetField(key string, old, new any) any {
	switch key {
	case "migrationRules", "domainRules", "encodingRules":
		o, ok1 := old.([]any)
		n, ok2 := new.([]any)
		switch {
		case !ok1 || len(o) == 0:
			return new
		case !ok2 || len(n) == 0:
			return old
		}
		names := map[string]bool{}
		for _, r := range n {
			if m, ok := r.(map[string]any); ok {
				if name, ok := m["name"].(string); ok {
					names[name] = true
				}
			}
		}
		var out []any
		for _, r := range o {
			if m, ok := r.(map[string]any); ok {
				if name, ok := m["name"].(string); ok && names[name] {
					continue
				}
			}
			out = append(out, r)
		}
		return append(out, n...)
	}
	if new == nil {
		return old
	}
	return new
}

const confluentVersion = "confluent:version"

func hasConfluentVersion(metadata json.RawMessage) bool {
	var m struct {
		Properties map[string]any `json:"properties"`
	}
	if len(metadata) == 0 || json.Unmarshal(metadata, &m) != nil {
		return false
	}
	_, ok := m.Properties[confluentVersion]
	return ok
}

// setConfluentVersion sets the confluent:version property.
func setConfluentVersion(metadata json.RawMessage, version int) (json.RawMessage, error) {
	m := map[string]any{}
	if len(metadata) > 0 {
		if err := json.Unmarshal(metadata, &m); err != nil {
			return nil, err
		}
	}
	props, _ := m["properties"].(map[string]any)
	if props == nil {
		props = map[string]any{}
	}
	props[confluentVersion] = strconv.Itoa(version)
	m["properties"] = props
	return compactMarshal(m)
}
