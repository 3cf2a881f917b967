package evolution

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
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

// jsonCompat decides whether reader reads what writer wrote, by
// Confluent's JSON Schema rules (its SchemaDiff at the default, strict
// policy) where they are implemented here: types (integer widens to
// number), enum and const, string, number, object and array bounds,
// pattern, multipleOf, uniqueItems, required, properties under open,
// closed and partially open content models (additionalProperties,
// patternProperties), dependencies, dependentRequired and
// dependentSchemas, items, prefixItems and tuple items, true/false
// schemas and local $refs. A schema that is only a combination (allOf,
// anyOf or oneOf, beside annotations) or only a `not` is compared branch
// by branch, as Confluent does. Combinators mixed with other keywords, and
// keywords whose rules are not implemented (if/then/else, contains,
// unevaluated*, propertyNames, format, ...), are compared as they are: any
// change to one is refused with an UNDECIDED_CHANGE issue, never accepted.
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

// annotations are keywords that never change what a schema accepts.
var annotations = map[string]bool{
	"title": true, "description": true, "$id": true, "id": true, "default": true,
	"examples": true, "$comment": true, "$schema": true, "definitions": true,
	"$defs": true, "readOnly": true, "writeOnly": true, "deprecated": true,
	"$anchor": true, "$vocabulary": true,
}

// undecided are keywords whose compatibility rules are not implemented
// beyond pure combinations (see jsonCompat): any other change to one is
// refused.
var undecided = []string{
	"allOf", "anyOf", "oneOf", "not", "if", "then", "else",
	"contains", "unevaluatedItems", "unevaluatedProperties", "propertyNames",
	"$dynamicRef", "$recursiveRef", "$dynamicAnchor", "$recursiveAnchor",
	"format", "contentEncoding", "contentMediaType", "contentSchema",
}

// upperBounds and lowerBounds are the numeric bounds: a reader may raise
// (or drop) an upper bound and lower (or drop) a lower one.
var (
	upperBounds = []string{"maxLength", "maximum", "exclusiveMaximum", "maxProperties", "maxItems", "maxContains"}
	lowerBounds = []string{"minLength", "minimum", "exclusiveMinimum", "minProperties", "minItems", "minContains"}
)

// acceptsAll reports whether a schema accepts any value: true, {}, or
// only annotations.
func acceptsAll(n any) bool {
	switch v := n.(type) {
	case bool:
		return v
	case jsonNode:
		for k := range v {
			if !annotations[k] {
				return false
			}
		}
		return true
	}
	return false
}

func jsonNumber(v any) (float64, bool) {
	switch n := v.(type) {
	case json.Number:
		f, err := n.Float64()
		return f, err == nil
	case float64:
		return n, true
	}
	return 0, false
}

func jsonEqual(a, b any) bool {
	ab, err1 := json.Marshal(a)
	bb, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && bytes.Equal(ab, bb)
}

// openContent reports whether an object schema accepts any other property:
// additionalProperties absent or true, no patternProperties, and
// unevaluatedProperties absent or true.
func openContent(n jsonNode) bool {
	if ap, ok := n["additionalProperties"]; ok && !acceptsAll(ap) {
		return false
	}
	if pp, ok := n["patternProperties"].(jsonNode); ok && len(pp) > 0 {
		return false
	}
	if up, ok := n["unevaluatedProperties"]; ok && !acceptsAll(up) {
		return false
	}
	return true
}

// partialContent returns the schema a partially open object schema gives
// a property it does not declare: a matching patternProperties entry, else
// an additionalProperties schema; nil when there is none.
func partialContent(n jsonNode, name string) any {
	if ps := matchingPattern(asNode(n["patternProperties"]), name); ps != nil {
		return ps
	}
	if ap, ok := n["additionalProperties"].(jsonNode); ok {
		return ap
	}
	if _, ok := n["additionalProperties"]; !ok {
		if up, ok := n["unevaluatedProperties"].(jsonNode); ok {
			return up
		}
	}
	return nil
}

// combinedOf returns the criterion and subschemas of a schema that is only
// a combination (allOf, anyOf or oneOf, beside annotations), with equal
// subschemas collapsed.
func combinedOf(n jsonNode) (string, []any, bool) {
	crit := ""
	for k := range n {
		switch {
		case k == "allOf" || k == "anyOf" || k == "oneOf":
			if crit != "" {
				return "", nil, false
			}
			crit = k
		case !annotations[k]:
			return "", nil, false
		}
	}
	list, ok := n[crit].([]any)
	if crit == "" || !ok || len(list) == 0 {
		return "", nil, false
	}
	var subs []any
	for _, x := range list {
		if !slices.ContainsFunc(subs, func(y any) bool { return jsonEqual(x, y) }) {
			subs = append(subs, x)
		}
	}
	return crit, subs, true
}

// onlyNot returns the schema of a schema that is only a not (beside
// annotations).
func onlyNot(n jsonNode) (any, bool) {
	if _, ok := n["not"]; !ok {
		return nil, false
	}
	for k := range n {
		if k != "not" && !annotations[k] {
			return nil, false
		}
	}
	return n["not"], true
}

// checkCombined applies Confluent's rules for combined schemas when the
// reader or the writer is only a combination: a writer read by one branch
// of a reader anyOf/oneOf (SUM_TYPE_EXTENDED), a writer allOf one branch
// of which the reader reads (PRODUCT_TYPE_NARROWED), and, between two
// combinations, the criterion change and a matching of writer to reader
// branches covering the smaller side. done is false when neither is a pure
// combination (nor both a pure not), and the schemas are compared keyword
// by keyword instead.
func (c *jsonChecker) checkCombined(rn, wn jsonNode, path string, depth int) (issues []Issue, done bool) {
	if rnot, ok := onlyNot(rn); ok {
		if wnot, ok := onlyNot(wn); ok {
			// not R reads not W when W's values are all R's: R reads W.
			return c.check(wnot, rnot, path+"/not", depth+1), true
		}
	}
	rc, rsubs, rComb := combinedOf(rn)
	wc, wsubs, wComb := combinedOf(wn)
	ok := func(r, w any) bool { return len(c.check(r, w, path, depth+1)) == 0 }
	switch {
	case !rComb && !wComb:
		return nil, false
	case rComb && !wComb:
		if len(rsubs) == 1 && ok(rsubs[0], wn) || rc != "allOf" && slices.ContainsFunc(rsubs, func(r any) bool { return ok(r, wn) }) {
			return nil, true
		}
		if rc == "allOf" && len(rsubs) > 1 && slices.IndexFunc(rsubs, func(r any) bool { return !ok(r, wn) }) < 0 {
			// Every branch of the reader reads the writer (a form Confluent
			// compares by type; refused here unless each branch agrees).
			return []Issue{jsonIssue("UNDECIDED_CHANGE", path+"/allOf", "an allOf reader of a single writer schema is refused")}, true
		}
		return []Issue{jsonIssue("TYPE_CHANGED", path, "no branch of the reader's %s reads the writer schema", rc)}, true
	case !rComb && wComb:
		if len(wsubs) == 1 && ok(rn, wsubs[0]) || wc == "allOf" && slices.ContainsFunc(wsubs, func(w any) bool { return ok(rn, w) }) {
			return nil, true
		}
		return []Issue{jsonIssue("TYPE_CHANGED", path, "the reader cannot read the writer's %s", wc)}, true
	}
	switch {
	case rc == wc:
	case rc == "anyOf", len(wsubs) == 1 && len(rsubs) == 1, len(wsubs) == 1 && rc == "oneOf", len(rsubs) == 1 && wc == "allOf":
		// COMBINED_TYPE_EXTENDED
	default:
		return []Issue{jsonIssue("COMBINED_TYPE_CHANGED", path, "the combination changed from %s to %s", wc, rc)}, true
	}
	switch {
	case len(wsubs) < len(rsubs) && rc == "allOf":
		issues = append(issues, jsonIssue("PRODUCT_TYPE_EXTENDED", path+"/"+rc, "the reader's allOf adds branches"))
	case len(wsubs) > len(rsubs) && wc != "allOf":
		issues = append(issues, jsonIssue("SUM_TYPE_NARROWED", path+"/"+rc, "the reader's %s drops branches", rc))
	}
	// A maximum matching of writer branches to reader branches that read
	// them must cover the smaller side.
	edges := make([][]int, len(wsubs))
	for i, w := range wsubs {
		for j, r := range rsubs {
			if ok(r, w) {
				edges[i] = append(edges[i], j)
			}
		}
	}
	if matching(edges, len(rsubs)) < min(len(wsubs), len(rsubs)) {
		issues = append(issues, jsonIssue("COMBINED_TYPE_SUBSCHEMAS_CHANGED", path+"/"+rc, "the reader's branches do not read the writer's"))
	}
	return issues, true
}

// matching returns the size of a maximum bipartite matching (Kuhn's
// algorithm) of left nodes to right nodes along edges.
func matching(edges [][]int, right int) int {
	owner := make([]int, right)
	for i := range owner {
		owner[i] = -1
	}
	var try func(l int, seen []bool) bool
	try = func(l int, seen []bool) bool {
		for _, r := range edges[l] {
			if seen[r] {
				continue
			}
			seen[r] = true
			if owner[r] < 0 || try(owner[r], seen) {
				owner[r] = l
				return true
			}
		}
		return false
	}
	n := 0
	for l := range edges {
		if try(l, make([]bool, right)) {
			n++
		}
	}
	return n
}

func asNode(v any) jsonNode {
	n, _ := v.(jsonNode)
	return n
}

func hasDefault(v any) bool {
	_, ok := asNode(v)["default"]
	return ok
}

func (c *jsonChecker) check(r, w any, path string, depth int) []Issue {
	if depth > maxRefs {
		return nil
	}
	r, w = deref(r, c.rroot), deref(w, c.wroot)
	switch {
	case acceptsAll(r), w == false:
		return nil
	case r == false:
		return []Issue{jsonIssue("TYPE_NARROWED", path, "the reader schema is false and accepts nothing")}
	}
	rn, ok1 := r.(jsonNode)
	wn, ok2 := w.(jsonNode)
	if !ok1 || !ok2 {
		return []Issue{jsonIssue("TYPE_CHANGED", path, "the reader schema accepts less than the writer's")}
	}
	if issues, done := c.checkCombined(rn, wn, path, depth); done {
		return issues
	}
	var issues []Issue
	add := func(is Issue) { issues = append(issues, is) }
	for _, k := range undecided {
		if !jsonEqual(rn[k], wn[k]) {
			add(jsonIssue("UNDECIDED_CHANGE", path+"/"+k, "a change to %s, whose compatibility rules are not implemented, is refused", k))
		}
	}

	rt, wt := jsonTypes(rn), jsonTypes(wn)
	if rt != nil {
		if wt == nil {
			add(jsonIssue("TYPE_NARROWED", path, "reader allows only %s, writer allows any type", strings.Join(rt, ", ")))
		}
		for _, t := range wt {
			if !jsonAccepts(rt, t) {
				add(jsonIssue("TYPE_CHANGED", path, "reader type %s cannot read writer type %q", strings.Join(rt, ", "), t))
			}
		}
	}
	if re, ok := rn["enum"].([]any); ok {
		we, _ := wn["enum"].([]any)
		if we == nil {
			add(jsonIssue("ENUM_ADDED", path+"/enum", "reader restricts values to an enum the writer does not have"))
		}
		for _, v := range we {
			if !slices.ContainsFunc(re, func(x any) bool { return jsonEqual(x, v) }) {
				add(jsonIssue("ENUM_ARRAY_NARROWED", path+"/enum", "reader enum lacks writer value %v", v))
			}
		}
	}
	if rc, ok := rn["const"]; ok {
		if wc, ok := wn["const"]; !ok || !jsonEqual(rc, wc) {
			add(jsonIssue("CONST_CHANGED", path+"/const", "reader const %v differs from the writer's", rc))
		}
	}
	issues = append(issues, boundIssues(rn, wn, path)...)

	// Objects: required, properties, dependencies, additionalProperties.
	rp, wp := asNode(rn["properties"]), asNode(wn["properties"])
	rreq, wreq := stringSet(rn["required"]), stringSet(wn["required"])
	for _, name := range sortedKeys(wp) {
		if _, both := rp[name]; both && rreq[name] && !wreq[name] && !hasDefault(rp[name]) {
			add(jsonIssue("REQUIRED_ATTRIBUTE_ADDED", path+"/required", "reader requires property %q, which the writer does not require", name))
		}
	}
	names := sortedKeys(wp)
	for _, n := range sortedKeys(rp) {
		if _, ok := wp[n]; !ok {
			names = append(names, n)
		}
	}
	for _, name := range names {
		ppath := path + "/properties/" + name
		rs, inR := rp[name]
		ws, inW := wp[name]
		switch {
		case inR && inW:
			issues = append(issues, c.check(rs, ws, ppath, depth+1)...)
		case inW: // removed by the reader
			if openContent(rn) || ws == false {
				continue
			}
			if ps := partialContent(rn, name); ps != nil {
				issues = append(issues, c.check(ps, ws, ppath, depth+1)...)
				continue
			}
			add(jsonIssue("PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL", ppath, "writer property %q is not allowed by the closed reader", name))
		default: // added by the reader
			if openContent(wn) {
				switch {
				case acceptsAll(rs):
				case rreq[name]:
					add(jsonIssue("REQUIRED_PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL", ppath, "reader adds required property %q, which the open writer may have written as anything", name))
				default:
					add(jsonIssue("OPTIONAL_PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL", ppath, "reader adds property %q, which the open writer may have written as anything", name))
				}
				continue
			}
			if ps := partialContent(wn, name); ps != nil {
				issues = append(issues, c.check(rs, ps, ppath, depth+1)...)
			}
			if rreq[name] && !hasDefault(rs) {
				add(jsonIssue("REQUIRED_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL", ppath, "reader requires new property %q without a default", name))
			}
		}
	}
	issues = append(issues, c.dependencyIssues(rn, wn, path, depth)...)
	rap, rHas := rn["additionalProperties"]
	wap, wHas := wn["additionalProperties"]
	rPermits, wPermits := !rHas || rap != false, !wHas || wap != false
	rSchema, wSchema := asNode(rap) != nil, asNode(wap) != nil
	switch {
	case rPermits != wPermits:
		if !rPermits {
			add(jsonIssue("ADDITIONAL_PROPERTIES_REMOVED", path+"/additionalProperties", "reader no longer allows additional properties"))
		}
	case rSchema && !wSchema:
		add(jsonIssue("ADDITIONAL_PROPERTIES_NARROWED", path+"/additionalProperties", "reader restricts additional properties to a schema"))
	case rSchema && wSchema:
		issues = append(issues, c.check(rap, wap, path+"/additionalProperties", depth+1)...)
	}
	// As in Confluent, patternProperties count through the properties they
	// cover (partialContent); a pattern both declare is compared.
	rpp, wpp := asNode(rn["patternProperties"]), asNode(wn["patternProperties"])
	for _, k := range sortedKeys(rpp) {
		if ws, ok := wpp[k]; ok {
			issues = append(issues, c.check(rpp[k], ws, path+"/patternProperties/"+k, depth+1)...)
		}
	}
	return append(issues, c.arrayIssues(rn, wn, path, depth)...)
}

// arrayShape returns an array schema's tuple (items as a list in draft-07,
// prefixItems in 2020-12), the keyword of the schema for the items after
// it (additionalItems, or items beside prefixItems), and, for a schema
// without a tuple, the schema of every item.
func arrayShape(n jsonNode) (tuple []any, restKey string, all any) {
	if p, ok := n["prefixItems"].([]any); ok {
		if _, has := n["items"]; !has {
			if _, has := n["unevaluatedItems"]; has {
				return p, "unevaluatedItems", nil
			}
		}
		return p, "items", nil
	}
	if t, ok := n["items"].([]any); ok {
		return t, "additionalItems", nil
	}
	return nil, "", n["items"]
}

// arrayIssues compares items: one schema for every item, or a tuple with
// the schema of the items after it, under Confluent's open, closed and
// partially open content models for arrays.
func (c *jsonChecker) arrayIssues(rn, wn jsonNode, path string, depth int) []Issue {
	rt, rRest, rAll := arrayShape(rn)
	wt, wRest, wAll := arrayShape(wn)
	var issues []Issue
	if rRest == "" && wRest == "" {
		switch {
		case rAll == nil || acceptsAll(rAll):
		case wAll == nil:
			issues = append(issues, jsonIssue("ITEMS_NARROWED", path+"/items", "reader restricts items the writer did not"))
		default:
			issues = append(issues, c.check(rAll, wAll, path+"/items", depth+1)...)
		}
		// Confluent compares additionalItems even without a tuple.
		rr, rHas := rn["additionalItems"]
		wr, wHas := wn["additionalItems"]
		return append(issues, c.restIssues(rr, rHas, wr, wHas, path+"/additionalItems", depth)...)
	}
	if rRest == "" || wRest == "" {
		// One side is a tuple, the other not.
		if rRest == "" && (rAll == nil || acceptsAll(rAll)) {
			return nil
		}
		return []Issue{jsonIssue("UNDECIDED_CHANGE", path+"/items", "a change between a tuple and a single item schema is refused")}
	}
	rest := func(n jsonNode, key string) (v any, has bool) { v, has = n[key]; return v, has }
	rr, rHas := rest(rn, rRest)
	wr, wHas := rest(wn, wRest)
	open := func(v any, has bool) bool { return !has || v == true }
	partial := func(v any) any {
		if n := asNode(v); n != nil {
			return n
		}
		return nil
	}
	for i := range max(len(rt), len(wt)) {
		ipath := fmt.Sprintf("%s/items/%d", path, i)
		switch {
		case i < len(rt) && i < len(wt):
			issues = append(issues, c.check(rt[i], wt[i], ipath, depth+1)...)
		case i < len(wt): // removed by the reader: its rest reads it
			switch {
			case open(rr, rHas), wt[i] == false:
			case partial(rr) != nil:
				issues = append(issues, c.check(rr, wt[i], ipath, depth+1)...)
			default:
				issues = append(issues, jsonIssue("ITEM_REMOVED_FROM_CLOSED_CONTENT_MODEL", ipath, "the closed reader tuple drops item %d", i))
			}
		default: // added by the reader: the writer's rest wrote it
			switch {
			case open(wr, wHas):
				if !acceptsAll(rt[i]) {
					issues = append(issues, jsonIssue("ITEM_ADDED_TO_OPEN_CONTENT_MODEL", ipath, "reader adds item %d, which the open writer may have written as anything", i))
				}
			case partial(wr) != nil:
				issues = append(issues, c.check(rt[i], wr, ipath, depth+1)...)
			}
		}
	}
	if rRest != wRest {
		if !jsonEqual(rr, wr) {
			issues = append(issues, jsonIssue("UNDECIDED_CHANGE", path+"/"+rRest, "a change between %s and %s is refused", wRest, rRest))
		}
		return issues
	}
	return append(issues, c.restIssues(rr, rHas, wr, wHas, path+"/"+rRest, depth)...)
}

// restIssues compares the schemas of the items after a tuple
// (additionalItems, or items beside prefixItems).
func (c *jsonChecker) restIssues(rr any, rHas bool, wr any, wHas bool, path string, depth int) []Issue {
	rPermits, wPermits := !rHas || rr != false, !wHas || wr != false
	rSchema, wSchema := asNode(rr) != nil, asNode(wr) != nil
	switch {
	case rPermits != wPermits:
		if !rPermits {
			return []Issue{jsonIssue("ADDITIONAL_ITEMS_REMOVED", path, "reader no longer allows items after the tuple")}
		}
	case rSchema && !wSchema:
		return []Issue{jsonIssue("ADDITIONAL_ITEMS_NARROWED", path, "reader restricts the items after the tuple")}
	case rSchema && wSchema:
		return c.check(rr, wr, path, depth+1)
	}
	return nil
}

func isArray(v any) bool {
	_, ok := v.([]any)
	return ok
}

// boundIssues compares the numeric and string bounds of a reader and a
// writer schema.
func boundIssues(rn, wn jsonNode, path string) []Issue {
	var issues []Issue
	bound := func(k string, upper bool) {
		rv, rok := rn[k]
		wv, wok := wn[k]
		switch {
		case !rok:
			return // dropped or never there
		case !wok:
			issues = append(issues, jsonIssue(confluentName(k)+"_ADDED", path+"/"+k, "reader adds %s %v", k, rv))
			return
		}
		r, ok1 := jsonNumber(rv)
		w, ok2 := jsonNumber(wv)
		switch {
		case !ok1 || !ok2:
			if !jsonEqual(rv, wv) {
				issues = append(issues, jsonIssue("UNDECIDED_CHANGE", path+"/"+k, "a change to %s from %v to %v is refused", k, wv, rv))
			}
		case upper && r < w:
			issues = append(issues, jsonIssue(confluentName(k)+"_DECREASED", path+"/"+k, "reader %s %v is below the writer's %v", k, rv, wv))
		case !upper && r > w:
			issues = append(issues, jsonIssue(confluentName(k)+"_INCREASED", path+"/"+k, "reader %s %v is above the writer's %v", k, rv, wv))
		}
	}
	for _, k := range upperBounds {
		bound(k, true)
	}
	for _, k := range lowerBounds {
		bound(k, false)
	}
	if rp, ok := rn["pattern"]; ok && !jsonEqual(rp, wn["pattern"]) {
		issues = append(issues, jsonIssue("PATTERN_CHANGED", path+"/pattern", "reader pattern %v differs from the writer's", rp))
	}
	if rm, ok := rn["multipleOf"]; ok {
		r, ok1 := jsonNumber(rm)
		w, ok2 := jsonNumber(wn["multipleOf"])
		if !ok1 || !ok2 || r == 0 || math.Mod(w, r) != 0 {
			issues = append(issues, jsonIssue("MULTIPLE_OF_CHANGED", path+"/multipleOf", "reader multipleOf %v does not divide the writer's %v", rm, wn["multipleOf"]))
		}
	}
	if rn["uniqueItems"] == true && wn["uniqueItems"] != true {
		issues = append(issues, jsonIssue("UNIQUE_ITEMS_ADDED", path+"/uniqueItems", "reader requires unique items"))
	}
	return issues
}

// confluentName spells a keyword as Confluent's difference types do:
// maxLength is MAX_LENGTH.
func confluentName(keyword string) string {
	var b strings.Builder
	for i, r := range keyword {
		if i > 0 && r >= 'A' && r <= 'Z' {
			b.WriteByte('_')
		}
		b.WriteRune(r)
	}
	return strings.ToUpper(b.String())
}

// dependencyIssues compares dependencies (draft-07: arrays or schemas) and
// their 2019-09 forms, dependentRequired and dependentSchemas.
func (c *jsonChecker) dependencyIssues(rn, wn jsonNode, path string, depth int) []Issue {
	split := func(n jsonNode) (map[string][]string, map[string]any) {
		arrays, schemas := map[string][]string{}, map[string]any{}
		for k, v := range asNode(n["dependencies"]) {
			if isArray(v) {
				arrays[k] = stringList(v)
			} else {
				schemas[k] = v
			}
		}
		for k, v := range asNode(n["dependentRequired"]) {
			arrays[k] = stringList(v)
		}
		for k, v := range asNode(n["dependentSchemas"]) {
			schemas[k] = v
		}
		return arrays, schemas
	}
	ra, rs := split(rn)
	wa, ws := split(wn)
	var issues []Issue
	for _, k := range sortedKeys(anyMap(ra)) {
		p := path + "/dependencies/" + k
		w, ok := wa[k]
		switch {
		case !ok:
			issues = append(issues, jsonIssue("DEPENDENCY_ARRAY_ADDED", p, "reader adds a dependency of %q", k))
		case !subset(ra[k], w):
			issues = append(issues, jsonIssue("DEPENDENCY_ARRAY_EXTENDED", p, "reader's dependency of %q asks for more than the writer's", k))
		}
	}
	for _, k := range sortedKeys(jsonNode(rs)) {
		p := path + "/dependencies/" + k
		if w, ok := ws[k]; ok {
			issues = append(issues, c.check(rs[k], w, p, depth+1)...)
		} else {
			issues = append(issues, jsonIssue("DEPENDENCY_SCHEMA_ADDED", p, "reader adds a schema dependency of %q", k))
		}
	}
	return issues
}

func anyMap(m map[string][]string) jsonNode {
	out := jsonNode{}
	for k, v := range m {
		out[k] = v
	}
	return out
}

// subset reports whether every string of a is in b.
func subset(a, b []string) bool {
	for _, x := range a {
		if !slices.Contains(b, x) {
			return false
		}
	}
	return true
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
