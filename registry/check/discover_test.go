package check

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
)

func TestLooksLikeJSONSchema(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name, text string
		ok         bool
		reason     string
	}{
		{"draft 2020-12", `{"$schema":"https://json-schema.org/draft/2020-12/schema","type":"string"}`, true, ""},
		{"draft-07 with #", `{"$schema":"http://json-schema.org/draft-07/schema#"}`, true, ""},
		{"dialect wins over markers", `{"$schema":"http://json-schema.org/draft-04/schema#","name":"x","version":"1"}`, true, ""},
		{"type and properties", `{"type":"object","properties":{"a":{"type":"string"}}}`, true, ""},
		{"type list and items", `{"type":["array","null"],"items":{"type":"integer"}}`, true, ""},
		{"defs and oneOf", `{"$defs":{"a":{"type":"string"}},"oneOf":[{"$ref":"#/$defs/a"}]}`, true, ""},
		{"schemastore $schema", `{"$schema":"https://json.schemastore.org/package","name":"a"}`, false, `$schema "https://json.schemastore.org/package" is not a JSON Schema dialect`},
		{"package.json", `{"name":"shop","version":"1.0.0","type":"module","exports":{}}`, false, "a package manifest (name, version)"},
		{"package.json with properties-like keys", `{"name":"shop","version":"1.0.0","type":"object","properties":{}}`, false, "a package manifest (name, version)"},
		{"openapi", `{"openapi":"3.1.0","type":"object","properties":{}}`, false, "an OpenAPI document (openapi)"},
		{"swagger", `{"swagger":"2.0","definitions":{},"allOf":[]}`, false, "a Swagger document (swagger)"},
		{"tsconfig", `{"compilerOptions":{"strict":true}}`, false, "a TypeScript config (compilerOptions)"},
		{"lock file", `{"name":"x","lockfileVersion":3}`, false, "a lock file (lockfileVersion)"},
		{"jsonc", "{\n  // comment\n  \"a\": 1\n}", false, "not valid JSON"},
		{"array", `[{"type":"object"}]`, false, "not a JSON object"},
		{"avro in json", `{"type":"record","name":"A","fields":[]}`, false, "no $schema and no JSON Schema type"},
		{"bare type", `{"type":"string"}`, false, "no $schema, and a type without properties, items or other schema keywords"},
		{"settings", `{"editor.formatOnSave":true}`, false, "no $schema and no JSON Schema type"},
		{"fixture data", `{"id":"o-1","type":"order","total":1}`, false, "no $schema and no JSON Schema type"},
	} {
		ok, reason := looksLikeJSONSchema([]byte(tt.text))
		if ok != tt.ok || reason != tt.reason {
			t.Errorf("%s: got %v %q, want %v %q", tt.name, ok, reason, tt.ok, tt.reason)
		}
	}
}

func writeTree(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for p, text := range files {
		full := filepath.Join(root, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestScanAndResolve lists a tree's schema files with no config and with
// configs that name excluded places, in and out of a git work tree.
func TestScanAndResolve(t *testing.T) {
	t.Parallel()
	schema := `{"$schema":"https://json-schema.org/draft/2020-12/schema","type":"object","properties":{}}`
	files := map[string]string{
		"a.avsc":                          `{"type":"string"}`,
		"p/x.proto":                       `syntax = "proto3";`,
		"s.json":                          schema,
		"package.json":                    `{"name":"a","version":"1"}`,
		"node_modules/m/m.json":           schema,
		"vendor/acme/v.avsc":              `{"type":"string"}`,
		"third_party/t.proto":             `syntax = "proto3";`,
		"sub/testdata/f.avsc":             `{"type":"string"}`,
		".github/g.json":                  schema,
		"gen/out.avsc":                    `{"type":"string"}`,
		"keep/ignored.avsc":               `{"type":"string"}`,
		"keep/kept.avsc":                  `{"type":"string"}`,
		".gitignore":                      "gen/\nkeep/ignored.avsc\n",
		"node_modules/m/deep/schema.avsc": `{"type":"string"}`,
	}
	ctx := context.Background()
	for _, inGit := range []bool{false, true} {
		root := t.TempDir()
		writeTree(t, root, files)
		if inGit {
			if out, err := exec.Command("git", "-C", root, "init", "-q").CombinedOutput(); err != nil {
				t.Fatalf("git init: %v %s", err, out)
			}
		}
		read := func(p string) ([]byte, error) { return readRoot(root, p) }
		paths := func(cfg *Config) ([]string, []string) {
			cands, skips, err := scan(ctx, root, cfg.reaches)
			if err != nil {
				t.Fatal(err)
			}
			sfs, jskips, err := resolve(cfg, cands, read)
			if err != nil {
				t.Fatal(err)
			}
			var got, why []string
			for _, sf := range sfs {
				got = append(got, sf.path+" "+sf.subject)
			}
			for _, s := range append(skips, jskips...) {
				why = append(why, s.path+": "+s.reason)
			}
			return got, why
		}
		got, why := paths(nil)
		want := []string{"a.avsc a-value", "keep/kept.avsc kept-value", "p/x.proto x-value", "s.json s-value"}
		wantWhy := []string{".github/: hidden directory", "node_modules/: vendored dependencies", "sub/testdata/: test data", "third_party/: vendored dependencies", "vendor/: vendored dependencies", "package.json: not a JSON Schema: a package manifest (name, version)"}
		if inGit {
			wantWhy = append([]string{".github/: hidden directory", "gen/: ignored by git"}, wantWhy[1:]...)
			wantWhy = append(wantWhy[:2], append([]string{"keep/ignored.avsc: ignored by git"}, wantWhy[2:]...)...)
		} else {
			want = []string{"a.avsc a-value", "gen/out.avsc out-value", "keep/ignored.avsc ignored-value", "keep/kept.avsc kept-value", "p/x.proto x-value", "s.json s-value"}
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("git %v: zero-config got %q, want %q", inGit, got, want)
		}
		if !reflect.DeepEqual(why, wantWhy) {
			t.Errorf("git %v: skipped %q, want %q", inGit, why, wantWhy)
		}
		// A config includes excluded places only when its glob names them.
		cfg := &Config{Version: 1, Schemas: []Entry{
			{Files: "**/*.avsc"},
			{Files: "vendor/acme/*.avsc", Subject: "acme.{name}"},
			{Files: "node_modules/m/**/*.json"},
		}}
		if inGit {
			cfg.Schemas = append(cfg.Schemas, Entry{Files: "gen/*.avsc", Subject: "gen.{name}"})
		}
		got, why = paths(cfg)
		want = []string{"a.avsc a-value", "keep/kept.avsc kept-value", "vendor/acme/v.avsc acme.v", "node_modules/m/m.json m-value"}
		if inGit {
			want = append(want, "gen/out.avsc gen.out")
		} else {
			want = []string{"a.avsc a-value", "gen/out.avsc out-value", "keep/ignored.avsc ignored-value", "keep/kept.avsc kept-value", "vendor/acme/v.avsc acme.v", "node_modules/m/m.json m-value"}
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("git %v: config got %q, want %q", inGit, got, want)
		}
		if !strings.Contains(strings.Join(why, "\n"), "node_modules/m/deep/schema.avsc: under excluded node_modules (name it in the glob to include it)") {
			t.Errorf("git %v: skipped %q", inGit, why)
		}
	}
}

func TestImportRoots(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name       string
		files      map[string]string
		cfg        *Config
		inside     []string
		from       string
		file       string
		roots      []string
		importName string
	}{
		{"none", nil, nil, nil, "", "proto/a/b.proto", []string{"proto/a", ""}, "b.proto"},
		{"config", map[string]string{"buf.yaml": "version: v2\nmodules:\n  - path: other\n"}, &Config{ImportPaths: []string{"proto", "./"}}, []string{"proto", ""}, "schemaflow-check.yaml import_paths", "proto/a/b.proto", []string{"proto", ""}, "a/b.proto"},
		{"buf.work.yaml", map[string]string{"buf.work.yaml": "version: v1\ndirectories:\n  - proto\n  - vendor/proto\n", "buf.yaml": "version: v2\n"}, nil, []string{"proto", "vendor/proto"}, "buf.work.yaml", "vendor/proto/x/y.proto", []string{"proto", "vendor/proto"}, "x/y.proto"},
		{"buf.yaml v2", map[string]string{"buf.yaml": "version: v2\nmodules:\n  - path: proto\n  - path: api\n"}, nil, []string{"proto", "api"}, "buf.yaml", "api/s/v1/s.proto", []string{"proto", "api"}, "s/v1/s.proto"},
		{"buf.yaml v1", map[string]string{"buf.yaml": "version: v1\n"}, nil, []string{""}, "buf.yaml", "shop/v1/o.proto", []string{""}, "shop/v1/o.proto"},
		{"buf.yaml v1beta1 roots", map[string]string{"buf.yaml": "version: v1beta1\nbuild:\n  roots:\n    - src\n"}, nil, []string{"src"}, "buf.yaml", "src/o.proto", []string{"src"}, "o.proto"},
	} {
		root := t.TempDir()
		writeTree(t, root, tt.files)
		r, err := findImportRoots(root, tt.cfg)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if !reflect.DeepEqual(r.inside, tt.inside) || r.from != tt.from {
			t.Errorf("%s: roots %q from %q, want %q from %q", tt.name, r.inside, r.from, tt.inside, tt.from)
		}
		roots, name := r.forFile(tt.file)
		if !reflect.DeepEqual(roots, tt.roots) || name != tt.importName {
			t.Errorf("%s: %s: roots %q name %q, want %q %q", tt.name, tt.file, roots, name, tt.roots, tt.importName)
		}
	}
	// Outside the root, and broken files.
	root := t.TempDir()
	r, err := findImportRoots(root, &Config{ImportPaths: []string{"../shared"}})
	if err != nil || len(r.outside) != 1 || r.outside[0] != filepath.Join(filepath.Dir(root), "shared") {
		t.Fatalf("outside: %+v %v", r, err)
	}
	writeTree(t, root, map[string]string{"buf.yaml": "version: [v2\n"})
	if _, err := findImportRoots(root, nil); err == nil || !strings.HasPrefix(err.Error(), "buf.yaml: ") {
		t.Fatalf("bad buf.yaml: %v", err)
	}
}

func TestLoadConfigGlobsAndImportPaths(t *testing.T) {
	t.Parallel()
	_, err := LoadConfig("c.yaml", []byte("version: 1\nimport_paths:\n  - proto\n  - \"\"\nschemas:\n  - files: \"a/[\"\n  - files: \"b/{x,y}/**/*.avsc\"\n"))
	want := "c.yaml:4: import_paths[1] is empty\nc.yaml:6: schemas[0]: invalid glob \"a/[\""
	if err == nil || err.Error() != want {
		t.Fatalf("got %v, want %q", err, want)
	}
	cfg, err := LoadConfig("c.yaml", []byte("version: 1\nimport_paths: [proto]\nschemas:\n  - files: \"b/{x,y}/**/*.avsc\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	sfs, _, err := resolve(cfg, []candidate{{path: "b/x/1/a.avsc"}, {path: "b/z/a.avsc"}, {path: "b/y/c.avsc"}}, nil)
	if err != nil || len(sfs) != 2 || sfs[0].path != "b/x/1/a.avsc" || sfs[1].path != "b/y/c.avsc" {
		t.Fatalf("%+v %v", sfs, err)
	}
}

// Config globs are doublestar's: character classes (ranges, negation),
// alternatives and ** select the files; the glob's literal directory is
// what may reach into excluded directories.
func TestConfigGlobs(t *testing.T) {
	t.Parallel()
	cands := []candidate{
		{path: "schemas/a.avsc"}, {path: "schemas/b.avsc"}, {path: "schemas/c.avsc"}, {path: "schemas/z.avsc"},
		{path: "schemas/v1/a1.avsc"}, {path: "schemas/v2/a2.avsc"}, {path: "schemas/v10/a10.avsc"},
		{path: "proto/x.proto"},
	}
	for _, tc := range []struct {
		glob string
		want []string
	}{
		{"schemas/[ab].avsc", []string{"schemas/a.avsc", "schemas/b.avsc"}},
		{"schemas/[a-c].avsc", []string{"schemas/a.avsc", "schemas/b.avsc", "schemas/c.avsc"}},
		{"schemas/[!a-c].avsc", []string{"schemas/z.avsc"}},
		{"schemas/[^a-c].avsc", []string{"schemas/z.avsc"}},
		{"schemas/v[0-9]/*.avsc", []string{"schemas/v1/a1.avsc", "schemas/v2/a2.avsc"}},
		{"schemas/v[0-9]*/*.avsc", []string{"schemas/v1/a1.avsc", "schemas/v10/a10.avsc", "schemas/v2/a2.avsc"}},
		{"schemas/{a,z}.avsc", []string{"schemas/a.avsc", "schemas/z.avsc"}},
		{"**/a*.avsc", []string{"schemas/a.avsc", "schemas/v1/a1.avsc", "schemas/v10/a10.avsc", "schemas/v2/a2.avsc"}},
		{"proto/[xy].proto", []string{"proto/x.proto"}},
		{"schemas/[xy].avsc", nil},
	} {
		t.Run(tc.glob, func(t *testing.T) {
			cfg, err := LoadConfig("c.yaml", []byte("version: 1\nschemas:\n  - files: \""+tc.glob+"\"\n"))
			if err != nil {
				t.Fatal(err)
			}
			sfs, _, err := resolve(cfg, cands, nil)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, sf := range sfs {
				got = append(got, sf.path)
			}
			sort.Strings(got)
			if strings.Join(got, " ") != strings.Join(tc.want, " ") {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
	// An unclosed class is refused with the entry's line.
	if _, err := LoadConfig("c.yaml", []byte("version: 1\nschemas:\n  - files: \"schemas/[a-\"\n")); err == nil || !strings.Contains(err.Error(), `c.yaml:3: schemas[0]: invalid glob "schemas/[a-"`) {
		t.Errorf("unclosed class: %v", err)
	}
}
