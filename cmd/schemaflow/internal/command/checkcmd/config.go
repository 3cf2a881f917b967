package checkcmd

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

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
	Schemas []Entry  `yaml:"schemas"`
}

// Defaults are the settings entries inherit.
type Defaults struct {
	Level   string `yaml:"level"`
	Subject string `yaml:"subject"`
}

// Entry maps schema files to subjects.
type Entry struct {
	// Files is a glob, relative to the config file; ** matches any number
	// of directories.
	Files string `yaml:"files"`
	// Type is avro, protobuf or json; default from the file extension.
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

// loadConfig parses a config file strictly and reports every problem at
// once, each with its line.
func loadConfig(name string, data []byte) (*Config, error) {
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
	if len(cfg.Schemas) == 0 {
		add(lineOf("schemas"), "schemas lists no entries")
	}
	for i, e := range cfg.Schemas {
		if e.Files == "" {
			add(lineOf("schemas", i), "schemas[%d]: files is required", i)
		} else if _, err := globRegexp(e.Files); err != nil {
			add(lineOf("schemas", i, "files"), "schemas[%d]: %v", i, err)
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

// globRegexp compiles a glob: * and ? match within a directory, ** any
// number of directories.
func globRegexp(glob string) (*regexp.Regexp, error) {
	var b strings.Builder
	b.WriteString("^")
	for i := 0; i < len(glob); i++ {
		c := glob[i]
		switch {
		case strings.HasPrefix(glob[i:], "**/"):
			b.WriteString("(?:.*/)?")
			i += 2
		case strings.HasPrefix(glob[i:], "**"):
			b.WriteString(".*")
			i++
		case c == '*':
			b.WriteString("[^/]*")
		case c == '?':
			b.WriteString("[^/]")
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	b.WriteString("$")
	return regexp.Compile(b.String())
}

// schemaFile is one local schema and its subject.
type schemaFile struct {
	path    string // slash-separated, relative to the root
	subject string
	format  schemas.Format
	level   string // "" when neither the entry nor the default gives one
	refs    []Ref
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

// resolve maps a list of files (slash-separated, relative to the root) to
// schemas by the config, or with no config by the defaults: every .avsc,
// .proto and .json file, subject <name>-value.
func resolve(cfg *Config, files []string) ([]schemaFile, error) {
	var out []schemaFile
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
	if cfg == nil {
		for _, f := range files {
			format, ok := formatOfPath(f)
			if !ok {
				continue
			}
			if err := addFile(schemaFile{path: f, subject: expandSubject("{name}-value", f), format: format}); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	for _, e := range cfg.Schemas {
		re, _ := globRegexp(e.Files)
		for _, f := range files {
			if !re.MatchString(f) {
				continue
			}
			format, ok := formatOfPath(f)
			if e.Type != "" {
				format, _ = schemas.ParseFormat(e.Type)
				ok = true
			}
			if !ok {
				return nil, fmt.Errorf("%s: cannot tell the schema type; give type in the config", f)
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
			if err := addFile(schemaFile{path: f, subject: expandSubject(tmpl, f), format: format, level: level, refs: e.References}); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// walkFiles lists the files under root, slash-separated and relative,
// skipping hidden directories, node_modules and vendor.
func walkFiles(root string) ([]string, error) {
	var out []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if p != root && (strings.HasPrefix(name, ".") || name == "node_modules" || name == "vendor") {
				return filepath.SkipDir
			}
			return nil
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		out = append(out, filepath.ToSlash(rel))
		return nil
	})
	sort.Strings(out)
	return out, err
}

func readRoot(root, rel string) ([]byte, error) {
	return os.ReadFile(filepath.Join(root, filepath.FromSlash(rel)))
}
