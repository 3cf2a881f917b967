// Package check checks local schema files for compatibility with their
// earlier versions, for CI: in a registry (under each subject's level
// there), or in a directory or a git ref holding the same files. It finds
// the schema files (zero-config, or by a config file's globs), resolves
// their subjects and Protobuf imports, matches files that moved, reports
// deleted ones, locates every problem at a file, line and column, and can
// register the new versions. `schemaflow check` parses flags and prints
// what this package finds, the way buf's commands sit on its libraries.
package check

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os/exec"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/schemaflow/schemaflow/evolution"
	"github.com/schemaflow/schemaflow/registry"
	"github.com/schemaflow/schemaflow/schemas"
	"github.com/schemaflow/schemaflow/schemas/protobuf"
)

func quoteRoots(roots []string) []string {
	out := make([]string, len(roots))
	for i, r := range roots {
		if r == "" {
			r = "."
		}
		out[i] = r
	}
	return out
}

// Finding is one problem, located in a local file.
type Finding struct {
	Path    string `json:"path"`
	Line    int    `json:"start_line"`
	Column  int    `json:"start_column"`
	Subject string `json:"subject"`
	Rule    string `json:"type"`
	Message string `json:"message"`
}

// Options say what a Checker checks and against what.
type Options struct {
	// Root is the directory holding the local schema files. Default ".".
	Root string
	// Config selects the files and their subjects; nil finds them without
	// one (zero-config).
	Config *Config
	// Against is where the earlier versions are: DirSource, GitSource or
	// RegistrySource. Required.
	Against Source
	// AllowDeleted leaves deleted schema files unreported.
	AllowDeleted bool
	// Log, when not nil, receives a line per file checked, moved and
	// skipped (and why).
	Log io.Writer
}

// File is a local schema file being checked.
type File struct {
	Path    string // slash-separated, relative to the root
	Subject string
	Format  schemas.Format
}

// Checker checks the local schema files of a root. Make one with New.
type Checker struct {
	c            *checker
	local        []schemaFile
	allowDeleted bool
}

// New finds the local schema files under opts.Root (logging those it
// skips) and the Protobuf import roots.
func New(ctx context.Context, opts Options) (*Checker, error) {
	if opts.Against == nil {
		return nil, errors.New("check: no source of earlier versions (Options.Against)")
	}
	root := opts.Root
	if root == "" {
		root = "."
	}
	c := &checker{root: root, cfg: opts.Config, local: dirTree{root: root}, other: opts.Against, verbose: opts.Log}
	cands, skips, err := scan(ctx, root, c.cfg.reaches)
	if err != nil {
		return nil, err
	}
	local, jsonSkips, err := resolve(c.cfg, cands, func(p string) ([]byte, error) { return readRoot(root, p) })
	if err != nil {
		return nil, err
	}
	for _, s := range append(skips, jsonSkips...) {
		c.logf("skipped %s: %s", s.path, s.reason)
	}
	if c.imports, err = findImportRoots(root, c.cfg); err != nil {
		return nil, err
	}
	if c.imports.from != "" {
		c.logf("protobuf import paths from %s: %s", c.imports.from, strings.Join(append(quoteRoots(c.imports.inside), c.imports.outside...), ", "))
	}
	return &Checker{c: c, local: local, allowDeleted: opts.AllowDeleted}, nil
}

// Files returns the local schema files, in the order they are checked.
func (k *Checker) Files() []File {
	out := make([]File, len(k.local))
	for i, sf := range k.local {
		out[i] = File{Path: sf.path, Subject: sf.subject, Format: sf.format}
	}
	return out
}

// Check checks every local file against its earlier versions and returns
// the problems found, each located in a local file; none when every file
// is compatible.
func (k *Checker) Check(ctx context.Context) ([]Finding, error) {
	findings, err := k.c.run(ctx, k.local, k.allowDeleted)
	if err != nil {
		return nil, err
	}
	for _, sf := range k.local {
		k.c.logf("checked %s as %s", sf.path, sf.subject)
	}
	return findings, nil
}

// Register registers each local schema the registry does not hold yet,
// imported files before the files importing them, writing a line per
// registration (or, with dryRun, per registration it would make) to w.
// The source must be a registry.
func (k *Checker) Register(ctx context.Context, w io.Writer, dryRun bool) error {
	if _, ok := k.c.other.(*registrySource); !ok {
		return errors.New("check: registering needs a registry source")
	}
	return k.c.register(ctx, w, k.local, dryRun)
}

// Source is where the earlier versions come from: DirSource, GitSource or
// RegistrySource.
type Source interface {
	source
}

// DirSource is a directory holding the earlier schema files; name is how
// messages call it.
func DirSource(dir, name string) Source { return newDirSource(dir, name) }

// GitSource is a git ref of the repository at root holding the earlier
// schema files.
func GitSource(ctx context.Context, root, ref string) (Source, error) {
	return newGitSource(ctx, root, ref)
}

// RegistrySource is a registry holding the earlier versions of the
// subjects, checked under each subject's level there.
func RegistrySource(c *registry.Client) Source { return &registrySource{c: c} }

// tree is a set of files: the working tree, a directory or a git ref.
type tree interface {
	// read returns a file's content; an error matching fs.ErrNotExist
	// when it is not there.
	read(ctx context.Context, p string) ([]byte, error)
	// list returns the files that may hold schemas.
	list(ctx context.Context, cfg *Config) ([]candidate, error)
}

// dirTree is a directory on disk.
type dirTree struct{ root string }

func (d dirTree) read(_ context.Context, p string) ([]byte, error) { return readRoot(d.root, p) }

func (d dirTree) list(ctx context.Context, cfg *Config) ([]candidate, error) {
	cands, _, err := scan(ctx, d.root, cfg.reaches)
	return cands, err
}

// source is where the previous versions come from.
type source interface {
	// history returns the earlier versions of a subject, oldest first, and
	// the level the source applies to it ("" when it has none); nil when
	// the subject is new.
	history(ctx context.Context, c *checker, sf schemaFile) ([]evolution.Schema, string, error)
	// tree returns the source's files, for finding moved and deleted
	// ones; nil when the source has no files (a registry).
	tree() tree
	// label names the earlier version of sf that an issue was found
	// against, for messages.
	label(sf schemaFile, against string) string
	// refVersion returns the version a local file imported by another
	// stands for, as a registry reference: the registered version with
	// the same content, or in a tree 1 when unchanged and 2 when changed.
	refVersion(ctx context.Context, c *checker, dep schemaFile) (int, error)
}

type checker struct {
	root    string
	cfg     *Config
	other   source
	local   tree
	imports importRoots
	byPath  map[string]schemaFile // the local schema files
	verbose io.Writer             // nil unless --verbose
}

// schemaIn reads a schema from a tree: the local one, or the other one for
// its earlier version. Protobuf imports are read from the same tree; those
// that are checked files themselves become references, the way the
// registry stores them.
func (c *checker) schemaIn(ctx context.Context, t tree, sf schemaFile, p string, refVersion func(dep schemaFile) (int, error)) (evolution.Schema, []byte, error) {
	text, err := t.read(ctx, p)
	if err != nil {
		return evolution.Schema{}, nil, err
	}
	s := evolution.Schema{Format: sf.format, Text: text, Name: p}
	if sf.format == schemas.Protobuf {
		roots, name := c.imports.forFile(p)
		s.Name = name
		s.ImportPaths = c.imports.outside
		sources, paths, err := protoDeps(ctx, t, name, text, roots)
		if err != nil {
			return s, nil, fmt.Errorf("%s: %w", p, err)
		}
		if len(sources) > 0 {
			s.Dependencies = sources
		}
		for imp, depPath := range paths {
			dep, checked := c.byPath[depPath]
			if !checked {
				// In the other tree, the file may have moved since.
				for _, x := range c.byPath {
					if x.oldPath == depPath {
						dep, checked = x, true
					}
				}
			}
			if !checked || refVersion == nil {
				continue
			}
			v, err := refVersion(dep)
			if err != nil {
				return s, nil, fmt.Errorf("%s: import %q: %w", p, imp, err)
			}
			if s.References == nil {
				s.References = map[string]evolution.Reference{}
			}
			s.References[imp] = evolution.Reference{Subject: dep.subject, Version: v}
		}
	}
	for _, r := range sf.refs {
		dep, err := t.read(ctx, r.File)
		if err != nil {
			return s, nil, fmt.Errorf("%s: reference %q: %w", p, r.Name, err)
		}
		if s.Dependencies == nil {
			s.Dependencies = map[string]string{}
		}
		s.Dependencies[r.Name] = string(dep)
		if r.Subject != "" && r.Version > 0 {
			if s.References == nil {
				s.References = map[string]evolution.Reference{}
			}
			s.References[r.Name] = evolution.Reference{Subject: r.Subject, Version: r.Version}
		}
	}
	return s, text, nil
}

// localSchema reads a local schema with its imports and references.
func (c *checker) localSchema(ctx context.Context, sf schemaFile) (evolution.Schema, []byte, error) {
	return c.schemaIn(ctx, c.local, sf, sf.path, func(dep schemaFile) (int, error) { return c.other.refVersion(ctx, c, dep) })
}

func (c *checker) logf(format string, args ...any) {
	if c.verbose != nil {
		fmt.Fprintf(c.verbose, format+"\n", args...)
	}
}

// matchPrevious finds, in a source with files, where each local schema
// was: at its path, at another path under the same subject, or moved
// (same content, or a rename git detects) under another subject, which it
// keeps. It returns the earlier schema files that are gone.
func (c *checker) matchPrevious(ctx context.Context, local []schemaFile) ([]schemaFile, error) {
	t := c.other.tree()
	if t == nil {
		return nil, nil
	}
	cands, err := t.list(ctx, c.cfg)
	if err != nil {
		return nil, err
	}
	otherPaths := map[string]bool{}
	localPaths := map[string]bool{}
	for _, sf := range local {
		localPaths[sf.path] = true
	}
	var rest []candidate
	for _, cand := range cands {
		otherPaths[cand.path] = true
		if !localPaths[cand.path] {
			rest = append(rest, cand)
		}
	}
	gone, _, err := resolve(c.cfg, rest, func(p string) ([]byte, error) { return t.read(ctx, p) })
	if err != nil {
		return nil, fmt.Errorf("in the earlier files: %w", err)
	}
	goneBySubject := map[string]int{}
	for i, g := range gone {
		goneBySubject[g.subject] = i
	}
	localSubjects := map[string]bool{}
	for _, sf := range local {
		localSubjects[sf.subject] = true
	}
	used := make([]bool, len(gone))
	var fresh []int // local files new at their path under a new subject
	for i := range local {
		sf := &local[i]
		if otherPaths[sf.path] {
			continue
		}
		if j, ok := goneBySubject[sf.subject]; ok && !used[j] {
			sf.oldPath, used[j] = gone[j].path, true
			c.logf("moved %s -> %s: subject %s", gone[j].path, sf.path, sf.subject)
			continue
		}
		fresh = append(fresh, i)
	}
	renames := map[string]string{} // new path -> old path
	if r, ok := c.other.(interface {
		renames(context.Context) (map[string]string, error)
	}); ok && len(fresh) > 0 {
		if renames, err = r.renames(ctx); err != nil {
			return nil, err
		}
	}
	for _, i := range fresh {
		sf := &local[i]
		var text []byte
		for j, g := range gone {
			if used[j] || localSubjects[g.subject] || g.format != sf.format {
				continue
			}
			same := renames[sf.path] == g.path
			if !same {
				if text == nil {
					if text, err = c.local.read(ctx, sf.path); err != nil {
						return nil, err
					}
				}
				before, err := t.read(ctx, g.path)
				if err != nil {
					return nil, err
				}
				same = bytes.Equal(before, text)
			}
			if same {
				c.logf("moved %s -> %s: keeps subject %s (not %s)", g.path, sf.path, g.subject, sf.subject)
				delete(localSubjects, sf.subject)
				sf.subject, sf.oldPath, used[j] = g.subject, g.path, true
				localSubjects[sf.subject] = true
				break
			}
		}
	}
	var deleted []schemaFile
	for j, g := range gone {
		if !used[j] && !localSubjects[g.subject] {
			deleted = append(deleted, g)
		}
	}
	return deleted, nil
}

func (c *checker) run(ctx context.Context, local []schemaFile, allowDeleted bool) ([]Finding, error) {
	var findings []Finding
	deleted, err := c.matchPrevious(ctx, local)
	if err != nil {
		return nil, err
	}
	c.byPath = map[string]schemaFile{}
	for _, sf := range local {
		c.byPath[sf.path] = sf
	}
	for _, sf := range local {
		next, text, err := c.localSchema(ctx, sf)
		if err != nil {
			return nil, err
		}
		history, sourceLevel, err := c.other.history(ctx, c, sf)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", sf.subject, err)
		}
		levelName := sf.level
		if levelName == "" {
			levelName = sourceLevel
		}
		if levelName == "" {
			levelName = "BACKWARD"
		}
		level, err := evolution.ParseLevel(levelName)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", sf.subject, err)
		}
		res, err := evolution.Check(level, next, history)
		if err != nil {
			if next.Name != sf.path {
				// Protobuf files are named by their import path.
				return nil, fmt.Errorf("%s: %w", sf.path, err)
			}
			return nil, err
		}
		var ps *protobuf.Schema
		if sf.format == schemas.Protobuf {
			ps, _ = protobuf.Compile(next.Name, text, protobuf.Options{ImportPaths: next.ImportPaths, Sources: next.Dependencies, SourceInfo: true})
		}
		for _, is := range res.Issues {
			line, col := 1, 1
			if ps != nil {
				if imp := importDeclaring(ps, is.Path); imp != "" {
					if _, checked := next.References[imp]; checked {
						// Reported on the imported file itself; here the
						// field using the type is.
						continue
					}
					is.Message = fmt.Sprintf("in import %q: %s", imp, is.Message)
				}
			}
			switch {
			case ps != nil:
				line, col = locateProto(ps, is.Path)
			case is.Direction == evolution.NewReadsOld:
				// Avro and JSON Schema paths point into the reader: here the
				// local file.
				line, col = locateJSON(text, strings.TrimPrefix(is.Path, "#"))
			}
			msg := is.Message
			if is.Path != "" && is.Path != "/" {
				msg = is.Path + ": " + msg
			}
			if is.Against != "" {
				msg += " (against " + c.other.label(sf, is.Against) + ")"
			}
			findings = append(findings, Finding{Path: sf.path, Line: line, Column: col, Subject: sf.subject, Rule: is.Type, Message: msg})
		}
	}
	if !allowDeleted {
		for _, sf := range deleted {
			findings = append(findings, Finding{Path: sf.path, Line: 1, Column: 1, Subject: sf.subject, Rule: RuleSchemaFileDeleted,
				Message: fmt.Sprintf("previously present schema file %q was deleted", sf.path)})
		}
	}
	sort.SliceStable(findings, func(i, j int) bool {
		a, b := findings[i], findings[j]
		switch {
		case a.Path != b.Path:
			return a.Path < b.Path
		case a.Line != b.Line:
			return a.Line < b.Line
		case a.Column != b.Column:
			return a.Column < b.Column
		case a.Rule != b.Rule:
			return a.Rule < b.Rule
		}
		return a.Message < b.Message
	})
	out := findings[:0]
	for i, f := range findings {
		if i == 0 || f != findings[i-1] {
			out = append(out, f)
		}
	}
	return out, nil
}

// RuleSchemaFileDeleted is the finding for a schema file that is gone.
const RuleSchemaFileDeleted = "SCHEMA_FILE_DELETED"

// --- sources ---

// treeSource is a directory or a git ref holding the earlier files.
type treeSource struct {
	t tree
	// at labels a file in the tree: the directory joined, or @ref.
	at func(p string) string
}

func (s *treeSource) tree() tree { return s.t }

func (s *treeSource) history(ctx context.Context, c *checker, sf schemaFile) ([]evolution.Schema, string, error) {
	es, _, err := c.schemaIn(ctx, s.t, sf, sf.previousPath(), func(dep schemaFile) (int, error) { return 1, nil })
	if errors.Is(err, fs.ErrNotExist) {
		return nil, "", nil // a new subject
	}
	if err != nil {
		return nil, "", err
	}
	if sf.format != schemas.Protobuf {
		es.Name = s.at(sf.previousPath())
	}
	return []evolution.Schema{es}, "", nil
}

func (s *treeSource) label(sf schemaFile, _ string) string { return s.at(sf.previousPath()) }

func (s *treeSource) refVersion(ctx context.Context, c *checker, dep schemaFile) (int, error) {
	before, err := s.t.read(ctx, dep.previousPath())
	if errors.Is(err, fs.ErrNotExist) {
		return 2, nil
	}
	if err != nil {
		return 0, err
	}
	now, err := c.local.read(ctx, dep.path)
	if err != nil {
		return 0, err
	}
	if bytes.Equal(before, now) {
		return 1, nil
	}
	return 2, nil
}

func newDirSource(root, name string) *treeSource {
	return &treeSource{t: dirTree{root: root}, at: func(p string) string { return path.Join(name, p) }}
}

// gitTree is the files of a git ref, under the working directory's place
// in the repository.
type gitTree struct {
	root, ref string
	prefix    string // set by init
}

func (g *gitTree) git(ctx context.Context, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = g.root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("git %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

// init checks the ref and finds the working directory's path inside the
// repository, so that files are read at the same place in the ref.
func (g *gitTree) init(ctx context.Context) error {
	if _, err := g.git(ctx, "rev-parse", "--verify", "--quiet", g.ref+"^{commit}"); err != nil {
		return fmt.Errorf("unknown git ref %q", g.ref)
	}
	out, err := g.git(ctx, "rev-parse", "--show-prefix")
	g.prefix = strings.TrimSpace(string(out))
	return err
}

func (g *gitTree) read(ctx context.Context, p string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "git", "cat-file", "blob", g.ref+":"+g.prefix+p)
	cmd.Dir = g.root
	out, err := cmd.Output()
	if err != nil {
		// Anything that is not a blob at the ref is absent there; the ref
		// itself was checked by init.
		return nil, fmt.Errorf("%s@%s: %w", p, g.ref, fs.ErrNotExist)
	}
	return out, nil
}

func (g *gitTree) list(ctx context.Context, cfg *Config) ([]candidate, error) {
	args := []string{"ls-tree", "-r", "-z", "--name-only", "--full-tree", g.ref}
	if g.prefix != "" {
		args = append(args, "--", g.prefix)
	}
	out, err := g.git(ctx, args...)
	if err != nil {
		return nil, err
	}
	var cands []candidate
	for _, l := range strings.Split(string(out), "\x00") {
		l = strings.TrimPrefix(l, g.prefix)
		if l == "" {
			continue
		}
		c := candidate{path: l}
		parts := strings.Split(l, "/")
		for i, part := range parts[:len(parts)-1] {
			if strings.HasPrefix(part, ".") || excludedDirs[part] != "" {
				c.excluded = strings.Join(parts[:i+1], "/")
				break
			}
		}
		if c.excluded != "" && !cfg.reaches(c.excluded) {
			continue
		}
		cands = append(cands, c)
	}
	return cands, nil
}

// renames returns the files git sees renamed since the ref (new path to
// old path), content changes included.
func (g *gitTree) renames(ctx context.Context) (map[string]string, error) {
	out, err := g.git(ctx, "diff", "--name-status", "-M", "-z", "--relative", g.ref, "--", ".")
	if err != nil {
		return nil, err
	}
	fields := strings.Split(string(out), "\x00")
	m := map[string]string{}
	for i := 0; i < len(fields); {
		status := fields[i]
		switch {
		case strings.HasPrefix(status, "R") && i+2 < len(fields):
			m[fields[i+2]] = fields[i+1]
			i += 3
		case strings.HasPrefix(status, "C") && i+2 < len(fields):
			i += 3
		default:
			i += 2
		}
	}
	return m, nil
}

type gitSource struct {
	treeSource
	g *gitTree
}

func (g *gitSource) renames(ctx context.Context) (map[string]string, error) {
	return g.g.renames(ctx)
}

func newGitSource(ctx context.Context, root, ref string) (*gitSource, error) {
	g := &gitTree{root: root, ref: ref}
	if err := g.init(ctx); err != nil {
		return nil, err
	}
	return &gitSource{treeSource: treeSource{t: g, at: func(p string) string { return p + "@" + ref }}, g: g}, nil
}

type registrySource struct {
	c *registry.Client
}

func typeToFormat(t string) schemas.Format {
	switch t {
	case registry.TypeProtobuf:
		return schemas.Protobuf
	case registry.TypeJSON:
		return schemas.JSON
	}
	return schemas.Avro
}

func isCode(err error, code int) bool {
	var e *registry.Error
	return errors.As(err, &e) && e.Code == code
}

func (r *registrySource) history(ctx context.Context, c *checker, sf schemaFile) ([]evolution.Schema, string, error) {
	versions, err := r.c.Versions(ctx, sf.subject, false)
	if isCode(err, registry.CodeSubjectNotFound) {
		return nil, "", nil // a new subject
	}
	if err != nil {
		return nil, "", err
	}
	cfg, err := r.c.Config(ctx, sf.subject, true)
	if err != nil {
		return nil, "", err
	}
	var out []evolution.Schema
	for _, v := range versions {
		s, err := r.c.Version(ctx, sf.subject, v, false)
		if err != nil {
			return nil, "", err
		}
		es := evolution.Schema{Format: typeToFormat(s.SchemaType), Text: []byte(s.Schema), Name: "version " + strconv.Itoa(v)}
		if es.Format == schemas.Protobuf {
			es.Name = fmt.Sprintf("%s-v%d.proto", strings.ReplaceAll(sf.subject, "/", "_"), v)
		}
		if len(s.References) > 0 {
			es.Dependencies = map[string]string{}
			es.References = map[string]evolution.Reference{}
			for _, ref := range s.References {
				dep, err := r.c.Version(ctx, ref.Subject, ref.Version, true)
				if err != nil {
					return nil, "", fmt.Errorf("reference %q: %w", ref.Name, err)
				}
				es.Dependencies[ref.Name] = dep.Schema
				es.References[ref.Name] = evolution.Reference{Subject: ref.Subject, Version: ref.Version}
			}
		}
		out = append(out, es)
	}
	return out, cfg.CompatibilityLevel, nil
}

func (r *registrySource) tree() tree { return nil }

func (r *registrySource) label(sf schemaFile, against string) string {
	if strings.HasSuffix(against, ".proto") {
		// Protobuf versions are named <subject>-v<N>.proto to compile.
		if i := strings.LastIndex(against, "-v"); i >= 0 {
			return "version " + strings.TrimSuffix(against[i+2:], ".proto")
		}
	}
	return against
}

// refVersion returns the registered version of dep's subject with dep's
// content, or 0 when it is not registered (yet).
func (r *registrySource) refVersion(ctx context.Context, c *checker, dep schemaFile) (int, error) {
	req, err := c.registerRequest(ctx, dep)
	if err != nil {
		return 0, err
	}
	s, err := r.c.Lookup(ctx, dep.subject, req)
	if isCode(err, registry.CodeSubjectNotFound) || isCode(err, registry.CodeSchemaNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return s.Version, nil
}

// importedChecked returns the direct imports of a local .proto that are
// checked files themselves, by import name.
func (c *checker) importedChecked(ctx context.Context, sf schemaFile, text []byte) (map[string]schemaFile, error) {
	if sf.format != schemas.Protobuf {
		return nil, nil
	}
	roots, name := c.imports.forFile(sf.path)
	imports, err := protoImports(name, text)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", sf.path, err)
	}
	out := map[string]schemaFile{}
	for _, imp := range imports {
		for _, root := range roots {
			if dep, ok := c.byPath[path.Join(root, imp)]; ok {
				out[imp] = dep
				break
			}
		}
	}
	return out, nil
}

// registerRequest builds the request that registers a local schema: its
// text and type, and its references: those in the config and, for
// Protobuf, the imports that are checked files, at the version registered
// with their content.
func (c *checker) registerRequest(ctx context.Context, sf schemaFile) (registry.RegisterRequest, error) {
	text, err := readRoot(c.root, sf.path)
	if err != nil {
		return registry.RegisterRequest{}, err
	}
	req := registry.RegisterRequest{Schema: string(text), SchemaType: map[schemas.Format]string{schemas.Avro: registry.TypeAvro, schemas.Protobuf: registry.TypeProtobuf, schemas.JSON: registry.TypeJSON}[sf.format]}
	named := map[string]bool{}
	for _, r := range sf.refs {
		if r.Subject == "" || r.Version <= 0 {
			return req, fmt.Errorf("%s: reference %q needs subject and version to register", sf.path, r.Name)
		}
		named[r.Name] = true
		req.References = append(req.References, registry.Reference{Name: r.Name, Subject: r.Subject, Version: r.Version})
	}
	deps, err := c.importedChecked(ctx, sf, text)
	if err != nil {
		return req, err
	}
	for _, imp := range sortedKeys(deps) {
		if named[imp] {
			continue
		}
		dep := deps[imp]
		v, err := c.other.refVersion(ctx, c, dep)
		if err != nil {
			return req, fmt.Errorf("%s: import %q: %w", sf.path, imp, err)
		}
		if v <= 0 {
			return req, fmt.Errorf("%s: import %q: %s is not registered under %s", sf.path, imp, dep.path, dep.subject)
		}
		req.References = append(req.References, registry.Reference{Name: imp, Subject: dep.subject, Version: v})
	}
	return req, nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// register registers each local schema that the registry does not hold
// yet, imported files before the files importing them.
func (c *checker) register(ctx context.Context, w io.Writer, local []schemaFile, dryRun bool) error {
	rc := c.other.(*registrySource).c
	order, err := c.importOrder(ctx, local)
	if err != nil {
		return err
	}
	for _, sf := range order {
		req, err := c.registerRequest(ctx, sf)
		if err != nil {
			if dryRun {
				// An import registered by the same run is not there yet.
				fmt.Fprintf(w, "would register %s as a new version of %s\n", sf.path, sf.subject)
				continue
			}
			return err
		}
		if _, err := rc.Lookup(ctx, sf.subject, req); err == nil {
			continue // already registered
		} else if !isCode(err, registry.CodeSubjectNotFound) && !isCode(err, registry.CodeSchemaNotFound) {
			return err
		}
		if dryRun {
			fmt.Fprintf(w, "would register %s as a new version of %s\n", sf.path, sf.subject)
			continue
		}
		id, err := rc.Register(ctx, sf.subject, req, false)
		if err != nil {
			return fmt.Errorf("registering %s: %w", sf.path, err)
		}
		fmt.Fprintf(w, "registered %s as %s, id %d\n", sf.path, sf.subject, id)
	}
	return nil
}

// importOrder sorts the local schemas so that checked files a .proto
// imports come before it; otherwise the order is kept.
func (c *checker) importOrder(ctx context.Context, local []schemaFile) ([]schemaFile, error) {
	var out []schemaFile
	state := map[string]int{} // 1 visiting, 2 done
	var visit func(sf schemaFile) error
	visit = func(sf schemaFile) error {
		switch state[sf.path] {
		case 1:
			return fmt.Errorf("%s: import cycle", sf.path)
		case 2:
			return nil
		}
		state[sf.path] = 1
		text, err := readRoot(c.root, sf.path)
		if err != nil {
			return err
		}
		deps, err := c.importedChecked(ctx, sf, text)
		if err != nil {
			return err
		}
		for _, imp := range sortedKeys(deps) {
			if err := visit(deps[imp]); err != nil {
				return err
			}
		}
		state[sf.path] = 2
		out = append(out, sf)
		return nil
	}
	for _, sf := range local {
		if err := visit(sf); err != nil {
			return nil, err
		}
	}
	return out, nil
}
