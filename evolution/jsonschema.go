package evolution

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
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
	return jsonCheck(reader.json, writer.json, "#")
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

func jsonCheck(r, w any, path string) []Issue {
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
	for _, p := range stringList(rn["required"]) {
		if !wreq[p] {
			issues = append(issues, jsonIssue("REQUIRED_PROPERTY_ADDED", path+"/required", "reader requires property %q, which the writer does not require", p))
		}
	}
	rp, _ := rn["properties"].(jsonNode)
	wp, _ := wn["properties"].(jsonNode)
	closed := rn["additionalProperties"] == false
	for _, name := range sortedKeys(wp) {
		if rs, ok := rp[name]; ok {
			issues = append(issues, jsonCheck(rs, wp[name], path+"/properties/"+name)...)
		} else if closed {
			issues = append(issues, jsonIssue("PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL", path+"/properties/"+name, "writer property %q is not allowed by the closed reader", name))
		}
	}
	if ri, ok := rn["items"]; ok {
		if wi, ok := wn["items"]; ok {
			issues = append(issues, jsonCheck(ri, wi, path+"/items")...)
		}
	}
	return issues
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
