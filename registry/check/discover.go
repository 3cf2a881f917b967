package check

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// excludedDirs are directory names that are not scanned unless the config
// names them: vendored code and test fixtures hold schemas of other
// projects, or deliberately broken ones.
var excludedDirs = map[string]string{
	"node_modules": "vendored dependencies",
	"vendor":       "vendored dependencies",
	"third_party":  "vendored dependencies",
	"testdata":     "test data",
}

// candidate is a file found by a scan, with the excluded directory or
// ignored path it lies under ("" when none).
type candidate struct {
	path     string
	excluded string
}

// skipped is a file or directory left out of the check, with why.
type skipped struct {
	path, reason string
}

// scan lists the files under root that can hold schemas. Excluded
// directories (hidden ones, vendored trees, testdata and what git ignores)
// are entered only when reaches says that a config entry may select files
// in them; their files carry the excluded directory.
func scan(ctx context.Context, root string, reaches func(dir string) bool) ([]candidate, []skipped, error) {
	ignored, err := gitIgnored(ctx, root)
	if err != nil {
		return nil, nil, err
	}
	var out []candidate
	var skips []skipped
	var walk func(dir, rel, excluded string) error
	walk = func(dir, rel, excluded string) error {
		entries, err := os.ReadDir(dir)
		if err != nil {
			return err
		}
		for _, e := range entries {
			name := e.Name()
			p := name
			if rel != "" {
				p = rel + "/" + name
			}
			full := filepath.Join(dir, name)
			if e.Type()&fs.ModeSymlink != 0 {
				info, err := os.Stat(full)
				if err != nil {
					continue // a dangling link
				}
				if info.IsDir() {
					continue // links to directories could loop
				}
			}
			ex := excluded
			if e.IsDir() {
				if name == ".git" {
					continue
				}
				if ex == "" {
					reason := ""
					switch {
					case ignored[p+"/"] || ignored[p]:
						reason = "ignored by git"
					case strings.HasPrefix(name, "."):
						reason = "hidden directory"
					case excludedDirs[name] != "":
						reason = excludedDirs[name]
					}
					if reason != "" {
						if !reaches(p) {
							skips = append(skips, skipped{p + "/", reason})
							continue
						}
						ex = p
					}
				}
				if err := walk(full, p, ex); err != nil {
					return err
				}
				continue
			}
			if ex == "" && ignored[p] {
				if _, ok := formatOfPath(p); ok && !reaches(p) {
					skips = append(skips, skipped{p, "ignored by git"})
					continue
				}
				ex = p
			}
			out = append(out, candidate{path: p, excluded: ex})
		}
		return nil
	}
	if err := walk(root, "", ""); err != nil {
		return nil, nil, err
	}
	sort.Slice(out, func(i, j int) bool { return out[i].path < out[j].path })
	return out, skips, nil
}

// gitIgnored returns the paths under root (relative, slash-separated) that
// git ignores; directories end in "/". Outside a git work tree it returns
// none.
func gitIgnored(ctx context.Context, root string) (map[string]bool, error) {
	if _, err := exec.LookPath("git"); err != nil {
		return nil, nil
	}
	inside := exec.CommandContext(ctx, "git", "rev-parse", "--is-inside-work-tree")
	inside.Dir = root
	if out, err := inside.Output(); err != nil || strings.TrimSpace(string(out)) != "true" {
		return nil, nil
	}
	cmd := exec.CommandContext(ctx, "git", "ls-files", "--others", "--ignored", "--exclude-standard", "--directory", "-z")
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("listing files ignored by git: %v: %s", err, strings.TrimSpace(stderr.String()))
	}
	ignored := map[string]bool{}
	for _, p := range strings.Split(string(out), "\x00") {
		if p != "" {
			ignored[p] = true
		}
	}
	return ignored, nil
}

// jsonDialect matches the $schema URLs of the JSON Schema dialects.
var jsonDialect = regexp.MustCompile(`^https?://json-schema\.org/(draft-0[3-7]/|draft/[0-9]{4}-[0-9]{2}/)?schema#?$`)

// jsonSchemaTypes are the values of a JSON Schema "type".
var jsonSchemaTypes = map[string]bool{"object": true, "array": true, "string": true, "number": true, "integer": true, "boolean": true, "null": true}

// structuralKeywords are the keywords that, with a type, make an object a
// schema.
var structuralKeywords = []string{"properties", "items", "prefixItems", "$defs", "definitions", "oneOf", "anyOf", "allOf", "patternProperties", "additionalProperties", "required", "enum"}

// nonSchemaMarkers are top-level keys of well-known JSON files that are
// not schemas, with what they mark.
var nonSchemaMarkers = []struct {
	keys []string
	what string
}{
	{[]string{"openapi"}, "an OpenAPI document"},
	{[]string{"swagger"}, "a Swagger document"},
	{[]string{"asyncapi"}, "an AsyncAPI document"},
	{[]string{"compilerOptions"}, "a TypeScript config"},
	{[]string{"name", "version"}, "a package manifest"},
	{[]string{"lockfileVersion"}, "a lock file"},
	{[]string{"dependencies"}, "a package manifest"},
	{[]string{"devDependencies"}, "a package manifest"},
}

// looksLikeJSONSchema tells whether a .json file is a JSON Schema: it names
// a JSON Schema dialect in $schema, or it is an object with a type and
// structural keywords and none of the keys of well-known non-schema files.
// When it is not, reason says why.
func looksLikeJSONSchema(data []byte) (ok bool, reason string) {
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		return false, "not valid JSON"
	}
	obj, isObj := v.(map[string]any)
	if !isObj {
		return false, "not a JSON object"
	}
	if s, has := obj["$schema"]; has {
		url, _ := s.(string)
		if jsonDialect.MatchString(url) {
			return true, ""
		}
		return false, fmt.Sprintf("$schema %q is not a JSON Schema dialect", url)
	}
	for _, m := range nonSchemaMarkers {
		all := true
		for _, k := range m.keys {
			if _, has := obj[k]; !has {
				all = false
			}
		}
		if all {
			return false, fmt.Sprintf("%s (%s)", m.what, strings.Join(m.keys, ", "))
		}
	}
	typed := false
	switch t := obj["type"].(type) {
	case string:
		typed = jsonSchemaTypes[t]
	case []any:
		typed = len(t) > 0
		for _, x := range t {
			if s, _ := x.(string); !jsonSchemaTypes[s] {
				typed = false
			}
		}
	}
	structural := ""
	for _, k := range structuralKeywords {
		if _, has := obj[k]; has {
			structural = k
			break
		}
	}
	_, defs := obj["$defs"]
	_, definitions := obj["definitions"]
	_, combinator := obj["oneOf"]
	if !combinator {
		_, combinator = obj["anyOf"]
	}
	if !combinator {
		_, combinator = obj["allOf"]
	}
	switch {
	case typed && structural != "":
		return true, ""
	case (defs || definitions) && combinator:
		return true, ""
	case typed:
		return false, "no $schema, and a type without properties, items or other schema keywords"
	}
	return false, "no $schema and no JSON Schema type"
}

// globBase is the directory part of a glob before its first wildcard.
func globBase(glob string) string {
	i := strings.IndexAny(glob, "*?[{\\")
	if i < 0 {
		return glob
	}
	return strings.TrimSuffix(path.Dir(glob[:i]+"x"), ".")
}

// covers tells whether a glob with base names the excluded path itself:
// the glob's literal directory is the excluded directory or inside it.
func covers(base, excluded string) bool {
	return base == excluded || strings.HasPrefix(base, excluded+"/")
}
