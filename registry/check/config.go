package check

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/bmatcuk/doublestar/v4"
	"gopkg.in/yaml.v3"

	"github.com/schemaflow/schemaflow/evolution"
	"github.com/schemaflow/schemaflow/processor/spec"
	"github.com/schemaflow/schemaflow/schemas"
)

// DefaultConfigName is the config file check reads when it exists.
const DefaultConfigName = "schemaflow-check.yaml"

// Config is schemaflow-check.yaml.
type Config struct {
	Version int `yaml:"version"`
	// Default applies to every entry that does not say otherwise.
	Default Defaults `yaml:"default"`
	// ImportPaths are the directories Protobuf imports are resolved
	// against, relative to the directory checked; those inside it are
	// read from the tree being compiled (the working tree, or the git ref
	// or directory for earlier versions), those outside from disk.
	// Default: the directories of buf.work.yaml or the modules of
	// buf.yaml, else each file's own directory and the root.
	ImportPaths []string `yaml:"import_paths"`
	Schemas     []Entry  `yaml:"schemas"`
}

// Defaults are the settings entries inherit.
type Defaults struct {
	Level   string `yaml:"level"`
	Subject string `yaml:"subject"`
}

// Entry maps schema files to subjects.
type Entry struct {
	// Files is a glob, relative to the config file; ** matches any number
	// of directories. Files under node_modules/, vendor/, third_party/,
	// testdata/, hidden directories or ignored by git count only when the
	// glob's literal directory names that place ("vendor/acme/*.avsc").
	Files string `yaml:"files"`
	// Type is avro, protobuf or json; default from the file extension,
	// and then a .json file counts only when it looks like a JSON Schema.
	Type string `yaml:"type"`
	// Subject is a template: {name} is the file name without extension,
	// {dir} its directory, {path} its path without extension.
	Subject string `yaml:"subject"`
	// Level is the compatibility level to check at.
	Level string `yaml:"level"`
	// References are the files a schema imports.
	References []Ref `yaml:"references"`
}

// Ref is a schema reference: an import name, the local file with the
// imported schema, and for registering, the registry subject and version.
type Ref struct {
	Name    string `yaml:"name"`
	File    string `yaml:"file"`
	Subject string `yaml:"subject"`
	Version int    `yaml:"version"`
}

// LoadConfig parses a config file strictly and reports every problem at
// once, each with its line.
func LoadConfig(name string, data []byte) (*Config, error) {
	var cfg Config
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil {
		var te *yaml.TypeError
		if errors.As(err, &te) {
			return nil, fmt.Errorf("%s: %s", name, strings.Join(prefixAll(te.Errors, name+": "), "\n"))
		}
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	// Lines for the checks below.
	var doc yaml.Node
	_ = yaml.Unmarshal(data, &doc)
	lineOf := func(keys ...any) int { return spec.NodeLine(&doc, keys...) }
	var problems []string
	add := func(line int, format string, args ...any) {
		problems = append(problems, fmt.Sprintf("%s:%d: %s", name, line, fmt.Sprintf(format, args...)))
	}
	if cfg.Version != 1 {
		add(lineOf("version"), "version must be 1, not %d", cfg.Version)
	}
	if cfg.Default.Level != "" {
		if _, err := evolution.ParseLevel(cfg.Default.Level); err != nil {
			add(lineOf("default", "level"), "%v", err)
		}
	}
	for i, p := range cfg.ImportPaths {
		if p == "" {
			add(lineOf("import_paths", i), "import_paths[%d] is empty", i)
		}
	}
	if len(cfg.Schemas) == 0 {
		add(lineOf("schemas"), "schemas lists no entries")
	}
	for i, e := range cfg.Schemas {
		if e.Files == "" {
			add(lineOf("schemas", i), "schemas[%d]: files is required", i)
		} else if !doublestar.ValidatePattern(e.Files) {
			add(lineOf("schemas", i, "files"), "schemas[%d]: invalid glob %q", i, e.Files)
		}
		if e.Type != "" {
			if _, err := schemas.ParseFormat(e.Type); err != nil {
				add(lineOf("schemas", i, "type"), "schemas[%d]: %v", i, err)
			}
		}
		if e.Level != "" {
			if _, err := evolution.ParseLevel(e.Level); err != nil {
				add(lineOf("schemas", i, "level"), "schemas[%d]: %v", i, err)
			}
		}
		for j, r := range e.References {
			if r.Name == "" || r.File == "" {
				add(lineOf("schemas", i, "references", j), "schemas[%d].references[%d]: name and file are required", i, j)
			}
		}
	}
	if len(problems) > 0 {
		return nil, errors.New(strings.Join(problems, "\n"))
	}
	return &cfg, nil
}

func prefixAll(list []string, prefix string) []string {
	out := make([]string, len(list))
	for i, s := range list {
		out[i] = prefix + s
	}
	return out
}

// schemaFile is one local schema and its subject.
type schemaFile struct {
	path    string // slash-separated, relative to the root
	subject string
	format  schemas.Format
	level   string // "" when neither the entry nor the default gives one
	refs    []Ref
	// oldPath is where the file is in the other tree when it moved there
	// ("" when it is at path, or new).
	oldPath string
}

// previousPath is the file's path in the other tree.
func (sf schemaFile) previousPath() string {
	if sf.oldPath != "" {
		return sf.oldPath
	}
	return sf.path
}

func formatOfPath(p string) (schemas.Format, bool) {
	switch path.Ext(p) {
	case ".avsc":
		return schemas.Avro, true
	case ".proto":
		return schemas.Protobuf, true
	case ".json":
		return schemas.JSON, true
	}
	return 0, false
}

func expandSubject(tmpl, p string) string {
	noExt := strings.TrimSuffix(p, path.Ext(p))
	return strings.NewReplacer("{name}", path.Base(noExt), "{dir}", path.Dir(p), "{path}", noExt).Replace(tmpl)
}

// reaches tells whether a config entry may select files under an excluded
// directory: one whose glob's literal directory names it.
func (cfg *Config) reaches(dir string) bool {
	if cfg == nil {
		return false
	}
	for _, e := range cfg.Schemas {
		if covers(globBase(e.Files), dir) {
			return true
		}
	}
	return false
}

// resolve maps candidate files to schemas by the config, or with no config
// by the defaults: every .avsc and .proto file and every .json file that
// looks like a JSON Schema, outside excluded directories, with subject
// <name>-value. read returns a file's content, to tell JSON Schemas from
// other JSON files. The files left out are returned with why.
func resolve(cfg *Config, cands []candidate, read func(string) ([]byte, error)) ([]schemaFile, []skipped, error) {
	var out []schemaFile
	var skips []skipped
	seen := map[string]string{} // subject -> path
	addFile := func(sf schemaFile) error {
		if other, dup := seen[sf.subject]; dup && other != sf.path {
			return fmt.Errorf("subject %q comes from both %s and %s", sf.subject, other, sf.path)
		}
		if _, dup := seen[sf.subject]; !dup {
			seen[sf.subject] = sf.path
			out = append(out, sf)
		}
		return nil
	}
	// isSchema classifies a .json file whose type the config does not give.
	isSchema := func(p string) (bool, error) {
		data, err := read(p)
		if err != nil {
			return false, err
		}
		ok, reason := looksLikeJSONSchema(data)
		if !ok {
			skips = append(skips, skipped{p, "not a JSON Schema: " + reason})
		}
		return ok, nil
	}
	if cfg == nil {
		for _, c := range cands {
			format, ok := formatOfPath(c.path)
			if !ok {
				continue
			}
			if c.excluded != "" {
				skips = append(skips, skipped{c.path, "under excluded " + c.excluded})
				continue
			}
			if format == schemas.JSON {
				if ok, err := isSchema(c.path); err != nil || !ok {
					if err != nil {
						return nil, nil, err
					}
					continue
				}
			}
			if err := addFile(schemaFile{path: c.path, subject: expandSubject("{name}-value", c.path), format: format}); err != nil {
				return nil, nil, err
			}
		}
		return out, skips, nil
	}
	for _, e := range cfg.Schemas {
		base := globBase(e.Files)
		for _, c := range cands {
			if match, _ := doublestar.Match(e.Files, c.path); !match {
				continue
			}
			if c.excluded != "" && !covers(base, c.excluded) {
				skips = append(skips, skipped{c.path, "under excluded " + c.excluded + " (name it in the glob to include it)"})
				continue
			}
			format, ok := formatOfPath(c.path)
			if e.Type != "" {
				format, _ = schemas.ParseFormat(e.Type)
				ok = true
			} else if format == schemas.JSON {
				if ok, err := isSchema(c.path); err != nil || !ok {
					if err != nil {
						return nil, nil, err
					}
					continue
				}
			}
			if !ok {
				return nil, nil, fmt.Errorf("%s: cannot tell the schema type; give type in the config", c.path)
			}
			tmpl := e.Subject
			if tmpl == "" {
				tmpl = cfg.Default.Subject
			}
			if tmpl == "" {
				tmpl = "{name}-value"
			}
			level := e.Level
			if level == "" {
				level = cfg.Default.Level
			}
			if err := addFile(schemaFile{path: c.path, subject: expandSubject(tmpl, c.path), format: format, level: level, refs: e.References}); err != nil {
				return nil, nil, err
			}
		}
	}
	// A file one entry skipped may be another's.
	included := map[string]bool{}
	for _, sf := range out {
		included[sf.path] = true
	}
	var kept []skipped
	for _, s := range dedupSkips(skips) {
		if !included[s.path] {
			kept = append(kept, s)
		}
	}
	return out, kept, nil
}

// dedupSkips keeps the first reason given for each path.
func dedupSkips(list []skipped) []skipped {
	seen := map[string]bool{}
	out := list[:0]
	for _, s := range list {
		if !seen[s.path] {
			seen[s.path] = true
			out = append(out, s)
		}
	}
	return out
}

func readRoot(root, rel string) ([]byte, error) {
	return os.ReadFile(filepath.Join(root, filepath.FromSlash(rel)))
}
