package evolution

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v5"
)

// validateJSONSchema checks that the text is a JSON Schema that compiles:
// valid JSON, valid against its draft's metaschema, references resolvable.
func validateJSONSchema(s Schema) error {
	var v any
	dec := json.NewDecoder(bytes.NewReader(s.Text))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return fmt.Errorf("json schema: invalid JSON: %w", err)
	}
	c := jsonschema.NewCompiler()
	// Without $schema, Confluent reads a schema as draft-07.
	c.Draft = jsonschema.Draft7
	// Remote references are not fetched; a schema must be self-contained.
	c.LoadURL = func(u string) (_ io.ReadCloser, err error) {
		return nil, fmt.Errorf("remote reference %q is not loaded", u)
	}
	const url = "schemaflow://schema.json"
	if err := c.AddResource(url, bytes.NewReader(s.Text)); err != nil {
		return fmt.Errorf("json schema: %w", err)
	}
	if _, err := c.Compile(url); err != nil {
		return fmt.Errorf("json schema: %w", err)
	}
	return nil
}

// jsonCompat checks the subset of JSON Schema compatibility that schemaflow
// implements: a reader must accept every type the writer allows; it must not
// require a property the writer does not require; a closed reader
// (additionalProperties false) must declare every writer property; a
// reader enum must hold every writer value. It recurses into properties and
// items. Combinators ($ref, allOf, anyOf, oneOf, not, if/then/else) and
// numeric and string bounds are not compared.
func jsonCompat(reader, writer parsed) []Issue {
	c := &jsonChecker{rroot: reader.json, wroot: writer.json}
	return c.check(reader.json, writer.json, "#", 0)
}

type jsonChecker struct {
	rroot, wroot any
}

// maxRefs bounds how many $refs one comparison follows, which also ends
// recursive schemas.
const maxRefs = 32

// deref follows local $refs ("#/definitions/x") from root.
func deref(n any, root any) any {
	for range maxRefs {
		m, ok := n.(jsonNode)
		if !ok {
			return n
		}
		ref, ok := m["$ref"].(string)
		if !ok || !strings.HasPrefix(ref, "#") {
			return n
		}
		target := root
		for _, part := range strings.Split(strings.TrimPrefix(strings.TrimPrefix(ref, "#"), "/"), "/") {
			if part == "" {
				continue
			}
			part = strings.ReplaceAll(strings.ReplaceAll(part, "~1", "/"), "~0", "~")
			tm, ok := target.(jsonNode)
			if !ok {
				return n
			}
			target = tm[part]
		}
		if target == nil {
			return n
		}
		n = target
	}
	return n
}

type jsonNode = map[string]any

func decodeJSON(text []byte) any {
	var v any
	dec := json.NewDecoder(bytes.NewReader(text))
	dec.UseNumber()
	_ = dec.Decode(&v) // validated already
	return v
}

// jsonTypes returns the types a schema allows; nil means any.
func jsonTypes(n jsonNode) []string {
	switch t := n["type"].(type) {
	case string:
		return []string{t}
	case []any:
		var out []string
		for _, x := range t {
			if s, ok := x.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

func jsonAccepts(readerTypes []string, writerType string) bool {
	if readerTypes == nil || slices.Contains(readerTypes, writerType) {
		return true
	}
	return writerType == "integer" && slices.Contains(readerTypes, "number")
}

func jsonIssue(typ, path, format string, args ...any) Issue {
	if path == "" {
		path = "#/"
	}
	return Issue{Type: typ, Path: path, Message: fmt.Sprintf(format, args...)}
}

func (c *jsonChecker) check(r, w any, path string, depth int) []Issue {
	if depth > maxRefs {
		return nil
	}
	r, w = deref(r, c.rroot), deref(w, c.wroot)
	rn, ok1 := r.(jsonNode)
	wn, ok2 := w.(jsonNode)
	if !ok1 || !ok2 {
		if rb, ok := r.(bool); ok && !rb {
			if wb, ok := w.(bool); !ok || wb {
				return []Issue{jsonIssue("TYPE_NARROWED", path, "the reader schema is false and accepts nothing")}
			}
		}
		return nil
	}
	var issues []Issue
	rt, wt := jsonTypes(rn), jsonTypes(wn)
	if rt != nil {
		if wt == nil {
			issues = append(issues, jsonIssue("TYPE_NARROWED", path, "reader allows only %s, writer allows any type", strings.Join(rt, ", ")))
		}
		for _, t := range wt {
			if !jsonAccepts(rt, t) {
				issues = append(issues, jsonIssue("TYPE_CHANGED", path, "reader type %s cannot read writer type %q", strings.Join(rt, ", "), t))
			}
		}
	}
	if re, ok := rn["enum"].([]any); ok {
		we, _ := wn["enum"].([]any)
		if we == nil {
			issues = append(issues, jsonIssue("ENUM_ADDED", path+"/enum", "reader restricts values to an enum the writer does not have"))
		}
		for _, v := range we {
			if !slices.ContainsFunc(re, func(x any) bool { return fmt.Sprint(x) == fmt.Sprint(v) }) {
				issues = append(issues, jsonIssue("ENUM_VALUE_REMOVED", path+"/enum", "reader enum lacks writer value %v", v))
			}
		}
	}
	wreq := stringSet(wn["required"])
	rp, _ := rn["properties"].(jsonNode)
	wp, _ := wn["properties"].(jsonNode)
	for _, p := range stringList(rn["required"]) {
		// As in Confluent, a required name counts when the reader declares it.
		if _, declared := rp[p]; declared && !wreq[p] {
			issues = append(issues, jsonIssue("REQUIRED_PROPERTY_ADDED", path+"/required", "reader requires property %q, which the writer does not require", p))
		}
	}
	closed := rn["additionalProperties"] == false
	patterns, _ := rn["patternProperties"].(jsonNode)
	for _, name := range sortedKeys(wp) {
		ppath := path + "/properties/" + name
		if wp[name] == false {
			continue // the writer never writes it
		}
		if rs, ok := rp[name]; ok {
			issues = append(issues, c.check(rs, wp[name], ppath, depth+1)...)
			continue
		}
		if ps := matchingPattern(patterns, name); ps != nil {
			issues = append(issues, c.check(ps, wp[name], ppath, depth+1)...)
		} else if closed {
			issues = append(issues, jsonIssue("PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL", ppath, "writer property %q is not allowed by the closed reader", name))
		}
	}
	if ri, ok := rn["items"]; ok {
		if wi, ok := wn["items"]; ok {
			issues = append(issues, c.check(ri, wi, path+"/items", depth+1)...)
		}
	}
	return issues
}

// matchingPattern returns the schema of the first patternProperties entry
// (in key order) whose pattern matches name.
func matchingPattern(patterns jsonNode, name string) any {
	for _, p := range sortedKeys(patterns) {
		if re, err := regexp.Compile(p); err == nil && re.MatchString(name) {
			return patterns[p]
		}
	}
	return nil
}

func stringList(v any) []string {
	list, _ := v.([]any)
	var out []string
	for _, x := range list {
		if s, ok := x.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

func stringSet(v any) map[string]bool {
	out := map[string]bool{}
	for _, s := range stringList(v) {
		out[s] = true
	}
	return out
}

func sortedKeys(m jsonNode) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
