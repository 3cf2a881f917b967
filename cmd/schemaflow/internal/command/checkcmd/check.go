// Package checkcmd implements `schemaflow check`: schema compatibility in
// CI, with the UX of `buf breaking`.
package checkcmd

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"html"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/schemaflow/schemaflow/cmd/schemaflow/internal/cli"
	"github.com/schemaflow/schemaflow/evolution"
	"github.com/schemaflow/schemaflow/registry"
	"github.com/schemaflow/schemaflow/schemas"
	"github.com/schemaflow/schemaflow/schemas/protobuf"
)

// ExitIncompatible is the exit code when findings were printed.
const ExitIncompatible = 100

// Finding is one problem, located in a local file.
type Finding struct {
	Path    string `json:"path"`
	Line    int    `json:"start_line"`
	Column  int    `json:"start_column"`
	Subject string `json:"subject"`
	Rule    string `json:"type"`
	Message string `json:"message"`
}

// New returns the check command.
func New() *cli.Command {
	return &cli.Command{
		Name:    "check",
		Summary: "check local schema files for compatibility, for CI",
		Usage:   "[--config FILE] (--against-registry URL | --against DIR | --against-git REF) [--error-format text|json|github-actions|junit] [--register | --dry-run]",
		Help: `Checks each local schema against its subject's earlier versions: in a
registry (under the subject's level there, transitive levels included), or
in a directory or a git ref holding the same files (offline). Without a
config file (` + DefaultConfigName + `), every .avsc, .proto and .json file under
the current directory is checked, and its subject is <file name>-value.

Findings are printed as FILE:LINE:COL: SUBJECT: message [RULE]. A schema
file that existed in the other tree and is gone is a finding too
(SCHEMA_FILE_DELETED) unless --allow-deleted. Exit codes: 0 compatible,
100 findings printed, 1 any other error.

--register registers the new versions after a clean check, for a
main-branch job; --dry-run says what it would register.`,
		Setup: func(fs *flag.FlagSet) cli.RunFunc {
			configFile := fs.String("config", "", "config `file` (default "+DefaultConfigName+" when present)")
			againstRegistry := fs.String("against-registry", "", "registry `URL` to check against")
			againstDir := fs.String("against", "", "`dir` holding the previous schema files")
			againstGit := fs.String("against-git", "", "git `ref` holding the previous schema files")
			errorFormat := fs.String("error-format", "text", "`format` of findings: text, json, github-actions or junit")
			doRegister := fs.Bool("register", false, "register the new versions after a clean check (needs --against-registry)")
			dryRun := fs.Bool("dry-run", false, "with --register, report what would be registered without registering")
			allowDeleted := fs.Bool("allow-deleted", false, "do not report deleted schema files")
			user := fs.String("user", "", "registry basic auth `user` (default $SCHEMAFLOW_REGISTRY_USER)")
			password := fs.String("password", "", "registry basic auth `password` (default $SCHEMAFLOW_REGISTRY_PASSWORD)")
			return func(ctx context.Context, env *cli.Env, args []string) error {
				if len(args) > 0 {
					return cli.Usagef("check takes no arguments; it checks the current directory")
				}
				set := 0
				for _, v := range []string{*againstRegistry, *againstDir, *againstGit} {
					if v != "" {
						set++
					}
				}
				switch {
				case set == 0:
					return cli.Usagef("must set --against-registry, --against or --against-git")
				case set > 1:
					return cli.Usagef("set only one of --against-registry, --against and --against-git")
				case *errorFormat != "text" && *errorFormat != "json" && *errorFormat != "github-actions" && *errorFormat != "junit":
					return cli.Usagef("--error-format: invalid format: %q", *errorFormat)
				case (*doRegister || *dryRun) && *againstRegistry == "":
					return cli.Usagef("--register and --dry-run need --against-registry")
				}
				root := env.Path(".")
				if env.Dir == "" {
					root = "."
				}
				var cfg *Config
				cfgName := *configFile
				if cfgName == "" {
					if _, err := os.Stat(filepath.Join(root, DefaultConfigName)); err == nil {
						cfgName = DefaultConfigName
					}
				}
				if cfgName != "" {
					data, err := os.ReadFile(env.Path(cfgName))
					if err != nil {
						return err
					}
					if cfg, err = loadConfig(cfgName, data); err != nil {
						return err
					}
				}
				files, err := walkFiles(root)
				if err != nil {
					return err
				}
				local, err := resolve(cfg, files)
				if err != nil {
					return err
				}
				var other source
				switch {
				case *againstDir != "":
					other = &dirSource{root: env.Path(*againstDir), name: *againstDir}
				case *againstGit != "":
					other = &gitSource{root: root, ref: *againstGit}
				default:
					pick := func(v, name string) string {
						if v != "" {
							return v
						}
						return env.Getenv(name)
					}
					rc, err := registry.NewClient(*againstRegistry, registry.ClientOptions{Username: pick(*user, "SCHEMAFLOW_REGISTRY_USER"), Password: pick(*password, "SCHEMAFLOW_REGISTRY_PASSWORD")})
					if err != nil {
						return err
					}
					other = &registrySource{c: rc}
				}
				c := &checker{root: root, cfg: cfg, other: other}
				findings, err := c.run(ctx, local, *allowDeleted)
				if err != nil {
					return err
				}
				if err := printFindings(env.Stdout, *errorFormat, local, findings); err != nil {
					return err
				}
				if len(findings) > 0 {
					return &cli.ExitCodeError{Code: ExitIncompatible}
				}
				if *doRegister || *dryRun {
					return c.register(ctx, env, local, *dryRun)
				}
				return nil
			}
		},
	}
}

// source is where the previous versions come from.
type source interface {
	// history returns the earlier versions of a subject, oldest first, and
	// the level the source applies to it ("" when it has none); nil when
	// the subject is new.
	history(ctx context.Context, c *checker, sf schemaFile) ([]evolution.Schema, string, error)
	// files lists the source's files, for finding deleted ones; nil when
	// the source has no files (a registry).
	files(ctx context.Context) ([]string, error)
	// label names the earlier version of sf that an issue was found
	// against, for messages.
	label(sf schemaFile, against string) string
}

type checker struct {
	root  string
	cfg   *Config
	other source
}

// localSchema reads a local schema, with its references from local files.
func (c *checker) localSchema(sf schemaFile) (evolution.Schema, []byte, error) {
	text, err := readRoot(c.root, sf.path)
	if err != nil {
		return evolution.Schema{}, nil, err
	}
	s := evolution.Schema{Format: sf.format, Text: text, Name: sf.path}
	if sf.format == schemas.Protobuf {
		s.Name = path.Base(sf.path)
		s.ImportPaths = []string{filepath.Join(c.root, filepath.FromSlash(path.Dir(sf.path))), c.root}
	}
	if len(sf.refs) > 0 {
		s.Dependencies = map[string]string{}
		for _, r := range sf.refs {
			dep, err := readRoot(c.root, r.File)
			if err != nil {
				return s, nil, fmt.Errorf("%s: reference %q: %w", sf.path, r.Name, err)
			}
			s.Dependencies[r.Name] = string(dep)
		}
	}
	return s, text, nil
}

func (c *checker) run(ctx context.Context, local []schemaFile, allowDeleted bool) ([]Finding, error) {
	var findings []Finding
	for _, sf := range local {
		next, text, err := c.localSchema(sf)
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
			return nil, err
		}
		var ps *protobuf.Schema
		if sf.format == schemas.Protobuf {
			ps, _ = protobuf.Compile(next.Name, text, protobuf.Options{ImportPaths: next.ImportPaths, Sources: next.Dependencies, SourceInfo: true})
		}
		for _, is := range res.Issues {
			line, col := 1, 1
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
		otherFiles, err := c.other.files(ctx)
		if err != nil {
			return nil, err
		}
		if otherFiles != nil {
			before, err := resolve(c.cfg, otherFiles)
			if err != nil {
				return nil, err
			}
			now := map[string]bool{}
			for _, sf := range local {
				now[sf.subject] = true
			}
			for _, sf := range before {
				if !now[sf.subject] {
					findings = append(findings, Finding{Path: sf.path, Line: 1, Column: 1, Subject: sf.subject, Rule: "SCHEMA_FILE_DELETED",
						Message: fmt.Sprintf("previously present schema file %q was deleted", sf.path)})
				}
			}
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

// --- sources ---

type dirSource struct {
	root, name string // name is the directory as given
}

func (d *dirSource) history(_ context.Context, c *checker, sf schemaFile) ([]evolution.Schema, string, error) {
	text, err := readRoot(d.root, sf.path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, "", nil // a new subject
	}
	if err != nil {
		return nil, "", err
	}
	s := evolution.Schema{Format: sf.format, Text: text, Name: path.Join(d.name, sf.path)}
	if sf.format == schemas.Protobuf {
		s.Name = path.Base(sf.path)
		s.ImportPaths = []string{filepath.Join(d.root, filepath.FromSlash(path.Dir(sf.path))), d.root}
	}
	return []evolution.Schema{s}, "", nil
}

func (d *dirSource) files(context.Context) ([]string, error) { return walkFiles(d.root) }

func (d *dirSource) label(sf schemaFile, _ string) string { return path.Join(d.name, sf.path) }

type gitSource struct {
	root, ref string
}

func (g *gitSource) git(ctx context.Context, args ...string) ([]byte, error) {
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

// prefix is the path of the working directory inside the repository, so
// that files are read at the same place in the ref.
func (g *gitSource) prefix(ctx context.Context) (string, error) {
	out, err := g.git(ctx, "rev-parse", "--show-prefix")
	return strings.TrimSpace(string(out)), err
}

func (g *gitSource) history(ctx context.Context, c *checker, sf schemaFile) ([]evolution.Schema, string, error) {
	prefix, err := g.prefix(ctx)
	if err != nil {
		return nil, "", err
	}
	text, err := g.git(ctx, "show", g.ref+":"+prefix+sf.path)
	if err != nil {
		if _, lerr := g.git(ctx, "rev-parse", "--verify", "--quiet", g.ref+"^{commit}"); lerr != nil {
			return nil, "", fmt.Errorf("unknown git ref %q", g.ref)
		}
		return nil, "", nil // the file is new since the ref
	}
	s := evolution.Schema{Format: sf.format, Text: text, Name: sf.path + "@" + g.ref}
	if sf.format == schemas.Protobuf {
		// Imports are resolved from the working tree.
		s.Name = path.Base(sf.path)
		s.ImportPaths = []string{filepath.Join(g.root, filepath.FromSlash(path.Dir(sf.path))), g.root}
	}
	return []evolution.Schema{s}, "", nil
}

func (g *gitSource) label(sf schemaFile, _ string) string { return sf.path + "@" + g.ref }

func (g *gitSource) files(ctx context.Context) ([]string, error) {
	prefix, err := g.prefix(ctx)
	if err != nil {
		return nil, err
	}
	out, err := g.git(ctx, "ls-tree", "-r", "--name-only", g.ref, "--", ".")
	if err != nil {
		return nil, err
	}
	var files []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if l = strings.TrimPrefix(l, prefix); l != "" {
			files = append(files, l)
		}
	}
	return files, nil
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

func (r *registrySource) files(context.Context) ([]string, error) { return nil, nil }

func (r *registrySource) label(sf schemaFile, against string) string {
	if strings.HasSuffix(against, ".proto") {
		// Protobuf versions are named <subject>-v<N>.proto to compile.
		if i := strings.LastIndex(against, "-v"); i >= 0 {
			return "version " + strings.TrimSuffix(against[i+2:], ".proto")
		}
	}
	return against
}

// register registers each local schema that the registry does not hold yet.
func (c *checker) register(ctx context.Context, env *cli.Env, local []schemaFile, dryRun bool) error {
	rc := c.other.(*registrySource).c
	for _, sf := range local {
		text, err := readRoot(c.root, sf.path)
		if err != nil {
			return err
		}
		req := registry.RegisterRequest{Schema: string(text), SchemaType: map[schemas.Format]string{schemas.Avro: registry.TypeAvro, schemas.Protobuf: registry.TypeProtobuf, schemas.JSON: registry.TypeJSON}[sf.format]}
		for _, r := range sf.refs {
			if r.Subject == "" || r.Version <= 0 {
				return fmt.Errorf("%s: reference %q needs subject and version to register", sf.path, r.Name)
			}
			req.References = append(req.References, registry.Reference{Name: r.Name, Subject: r.Subject, Version: r.Version})
		}
		if _, err := rc.Lookup(ctx, sf.subject, req); err == nil {
			continue // already registered
		} else if !isCode(err, registry.CodeSubjectNotFound) && !isCode(err, registry.CodeSchemaNotFound) {
			return err
		}
		if dryRun {
			fmt.Fprintf(env.Stderr, "would register %s as a new version of %s\n", sf.path, sf.subject)
			continue
		}
		id, err := rc.Register(ctx, sf.subject, req, false)
		if err != nil {
			return fmt.Errorf("registering %s: %w", sf.path, err)
		}
		fmt.Fprintf(env.Stderr, "registered %s as %s, id %d\n", sf.path, sf.subject, id)
	}
	return nil
}

// --- output ---

func printFindings(w io.Writer, format string, local []schemaFile, findings []Finding) error {
	var b bytes.Buffer
	switch format {
	case "text":
		for _, f := range findings {
			fmt.Fprintf(&b, "%s:%d:%d: %s: %s [%s]\n", f.Path, f.Line, f.Column, f.Subject, f.Message, f.Rule)
		}
	case "json":
		for _, f := range findings {
			enc, err := json.Marshal(f)
			if err != nil {
				return err
			}
			b.Write(append(enc, '\n'))
		}
	case "github-actions":
		for _, f := range findings {
			fmt.Fprintf(&b, "::error file=%s,line=%d,col=%d::%s: %s [%s]\n", f.Path, f.Line, f.Column, f.Subject, ghEscape(f.Message), f.Rule)
		}
	case "junit":
		bySubject := map[string][]Finding{}
		var subjects []string
		for _, sf := range local {
			subjects = append(subjects, sf.subject)
		}
		for _, f := range findings {
			if _, known := bySubject[f.Subject]; !known && !contains(subjects, f.Subject) {
				subjects = append(subjects, f.Subject)
			}
			bySubject[f.Subject] = append(bySubject[f.Subject], f)
		}
		sort.Strings(subjects)
		failures := 0
		for _, s := range subjects {
			if len(bySubject[s]) > 0 {
				failures++
			}
		}
		fmt.Fprintf(&b, "<testsuites>\n  <testsuite name=\"schemaflow check\" tests=\"%d\" failures=\"%d\" errors=\"0\">\n", len(subjects), failures)
		for _, s := range subjects {
			fs := bySubject[s]
			if len(fs) == 0 {
				fmt.Fprintf(&b, "    <testcase name=%q></testcase>\n", html.EscapeString(s))
				continue
			}
			fmt.Fprintf(&b, "    <testcase name=%q>\n", html.EscapeString(s))
			for _, f := range fs {
				line := fmt.Sprintf("%s:%d:%d: %s", f.Path, f.Line, f.Column, f.Message)
				fmt.Fprintf(&b, "      <failure message=\"%s\" type=\"%s\"></failure>\n", html.EscapeString(line), html.EscapeString(f.Rule))
			}
			b.WriteString("    </testcase>\n")
		}
		b.WriteString("  </testsuite>\n</testsuites>\n")
	}
	_, err := w.Write(b.Bytes())
	return err
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// ghEscape escapes what GitHub Actions workflow commands treat specially.
func ghEscape(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A").Replace(s)
}
