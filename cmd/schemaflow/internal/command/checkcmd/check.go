// Package checkcmd implements `schemaflow check`: schema compatibility in
// CI, with the UX of `buf breaking`. It parses flags and prints; the
// checking is registry/check's.
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
	"path/filepath"
	"sort"
	"strings"

	"github.com/schemaflow/schemaflow/cmd/schemaflow/internal/cli"
	"github.com/schemaflow/schemaflow/registry"
	"github.com/schemaflow/schemaflow/registry/check"
)

// ExitIncompatible is the exit code when findings were printed.
const ExitIncompatible = 100

// New returns the check command.
func New() *cli.Command {
	return &cli.Command{
		Name:    "check",
		Summary: "check local schema files for compatibility, for CI",
		Usage:   "[--config FILE] (--against-registry URL | --against DIR | --against-git REF) [--error-format text|json|github-actions|junit] [--verbose] [--register | --dry-run] | --explain RULE",
		Help: `Checks each local schema against its subject's earlier versions: in a
registry (under the subject's level there, transitive levels included), or
in a directory or a git ref holding the same files (offline). Without a
config file (` + check.DefaultConfigName + `), every .avsc and .proto file under the
current directory is checked, and every .json file that looks like a JSON
Schema; hidden directories, node_modules, vendor, third_party, testdata and
files git ignores are left out (--verbose says what was skipped and why).
The subject is <file name>-value. Protobuf imports resolve from the
config's import_paths, buf.work.yaml or buf.yaml, else the file's
directory and the root; well-known types always.

Findings are printed as FILE:LINE:COL: SUBJECT: message [RULE]; --explain
RULE says what a rule means and how to evolve safely. A schema file that
existed in the other tree and is gone is a finding too
(SCHEMA_FILE_DELETED) unless --allow-deleted; a file that moved (same
content, or a rename git detects) keeps its subject. Exit codes: 0
compatible, 100 findings printed, 1 any other error.

--register registers the new versions after a clean check, for a
main-branch job; --dry-run says what it would register.`,
		Setup: func(fs *flag.FlagSet) cli.RunFunc {
			configFile := fs.String("config", "", "config `file` (default "+check.DefaultConfigName+" when present)")
			againstRegistry := fs.String("against-registry", "", "registry `URL` to check against")
			againstDir := fs.String("against", "", "`dir` holding the previous schema files")
			againstGit := fs.String("against-git", "", "git `ref` holding the previous schema files")
			errorFormat := fs.String("error-format", "text", "`format` of findings: text, json, github-actions or junit")
			doRegister := fs.Bool("register", false, "register the new versions after a clean check (needs --against-registry)")
			dryRun := fs.Bool("dry-run", false, "with --register, report what would be registered without registering")
			allowDeleted := fs.Bool("allow-deleted", false, "do not report deleted schema files")
			user := fs.String("user", "", "registry basic auth `user` (default $SCHEMAFLOW_REGISTRY_USER)")
			password := fs.String("password", "", "registry basic auth `password` (default $SCHEMAFLOW_REGISTRY_PASSWORD)")
			verbose := fs.Bool("verbose", false, "list the files checked, moved and skipped (and why) on stderr")
			explain := fs.String("explain", "", "print what `RULE` means, an example that breaks it and how to evolve safely, and exit")
			return func(ctx context.Context, env *cli.Env, args []string) error {
				if len(args) > 0 {
					return cli.Usagef("check takes no arguments; it checks the current directory")
				}
				if *explain != "" {
					var unknown *check.UnknownRuleError
					if err := check.Explain(env.Stdout, *explain); errors.As(err, &unknown) {
						return cli.Usagef("--explain: %v", err)
					} else if err != nil {
						return err
					}
					return nil
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
				var cfg *check.Config
				cfgName := *configFile
				if cfgName == "" {
					if _, err := os.Stat(filepath.Join(root, check.DefaultConfigName)); err == nil {
						cfgName = check.DefaultConfigName
					}
				}
				if cfgName != "" {
					data, err := os.ReadFile(env.Path(cfgName))
					if err != nil {
						return err
					}
					if cfg, err = check.LoadConfig(cfgName, data); err != nil {
						return err
					}
				}
				opts := check.Options{Root: root, Config: cfg, AllowDeleted: *allowDeleted}
				if *verbose {
					opts.Log = env.Stderr
				}
				switch {
				case *againstDir != "":
					opts.Against = check.DirSource(env.Path(*againstDir), *againstDir)
				case *againstGit != "":
					src, err := check.GitSource(ctx, root, *againstGit)
					if err != nil {
						return err
					}
					opts.Against = src
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
					opts.Against = check.RegistrySource(rc)
				}
				c, err := check.New(ctx, opts)
				if err != nil {
					return err
				}
				findings, err := c.Check(ctx)
				if err != nil {
					return err
				}
				if err := printFindings(env.Stdout, *errorFormat, c.Files(), findings); err != nil {
					return err
				}
				if len(findings) > 0 {
					return &cli.ExitCodeError{Code: ExitIncompatible}
				}
				if *doRegister || *dryRun {
					return c.Register(ctx, env.Stderr, *dryRun)
				}
				return nil
			}
		},
	}
}

// printFindings writes the findings in an --error-format; junit lists
// every checked subject, passing or not.
func printFindings(w io.Writer, format string, local []check.File, findings []check.Finding) error {
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
		bySubject := map[string][]check.Finding{}
		var subjects []string
		for _, sf := range local {
			subjects = append(subjects, sf.Subject)
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
