package main

import (
	"context"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/schemaflow/schemaflow/cmd/schemaflow/internal/cli"
	"github.com/schemaflow/schemaflow/cmd/schemaflow/internal/command/versioncmd"
	"github.com/schemaflow/schemaflow/registry"
)

var update = flag.Bool("update", false, "rewrite golden files")

// runIn runs schemaflow in process in dir.
func runIn(t *testing.T, dir string, args ...string) result {
	t.Helper()
	var out, errOut strings.Builder
	env := &cli.Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errOut, Getenv: func(string) string { return "" }, Dir: dir}
	code := cli.Main(context.Background(), Root(versioncmd.Info{}), args, env)
	return result{code, out.String(), errOut.String()}
}

const checkData = "../../testdata/check"

// TestCheckGolden checks the current tree against the previous one in each
// output format.
func TestCheckGolden(t *testing.T) {
	t.Parallel()
	for _, format := range []string{"text", "json", "github-actions", "junit"} {
		r := runIn(t, filepath.Join(checkData, "current"), "check", "--against", "../previous", "--error-format", format)
		if r.code != 100 || r.stderr != "" {
			t.Fatalf("%s: %+v", format, r)
		}
		golden := filepath.Join(checkData, "golden", format+".out")
		if *update {
			if err := os.WriteFile(golden, []byte(r.stdout), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(golden)
		if err != nil {
			t.Fatal(err)
		}
		if r.stdout != string(want) {
			t.Errorf("%s output differs from %s (go test ./cmd/schemaflow -run TestCheckGolden -update):\n%s", format, golden, r.stdout)
		}
	}
}

func copyTree(t *testing.T, from, to string) {
	t.Helper()
	err := filepath.Walk(from, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		if info.IsDir() {
			return os.MkdirAll(filepath.Join(to, rel), 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(to, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func git(t *testing.T, dir string, args ...string) {
	t.Helper()
	cmd := exec.Command("git", append([]string{"-c", "user.email=t@example.com", "-c", "user.name=t", "-c", "commit.gpgsign=false"}, args...)...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
}

// TestCheckAgainstGit finds the same problems against the previous tree
// committed in git as against it on disk.
func TestCheckAgainstGit(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("git"); err != nil {
		t.Fatal("git is required")
	}
	repo := t.TempDir()
	work := filepath.Join(repo, "schemas-repo")
	copyTree(t, filepath.Join(checkData, "previous"), work)
	git(t, repo, "init", "-q")
	git(t, repo, "add", ".")
	git(t, repo, "commit", "-q", "-m", "previous")
	if err := os.RemoveAll(work); err != nil {
		t.Fatal(err)
	}
	copyTree(t, filepath.Join(checkData, "current"), work)
	r := runIn(t, work, "check", "--against-git", "HEAD")
	want, _ := os.ReadFile(filepath.Join(checkData, "golden", "text.out"))
	wantLines := strings.ReplaceAll(string(want), "(against ../previous/", "(against ")
	for _, l := range strings.Split(strings.TrimSpace(wantLines), "\n") {
		if i := strings.Index(l, "(against "); i >= 0 {
			l = l[:i] // the git label names the ref instead of the directory
		}
		if !strings.Contains(r.stdout, l) {
			t.Errorf("missing %q in\n%s", l, r.stdout)
		}
	}
	if r.code != 100 || !strings.Contains(r.stdout, "schemas/orders.avsc@HEAD)") {
		t.Fatalf("%+v", r)
	}
	// A clean tree is compatible with itself.
	git(t, repo, "add", "-A")
	git(t, repo, "commit", "-q", "-m", "current")
	if r := runIn(t, work, "check", "--against-git", "HEAD"); r.code != 0 || r.stdout != "" {
		t.Fatalf("against itself: %+v", r)
	}
	if r := runIn(t, work, "check", "--against-git", "no-such-ref"); r.code != 1 || !strings.Contains(r.stderr, `unknown git ref "no-such-ref"`) {
		t.Fatalf("bad ref: %+v", r)
	}
}

// TestCheckAgainstRegistry checks against the versions and levels in a
// registry, then registers the new versions.
func TestCheckAgainstRegistry(t *testing.T) {
	t.Parallel()
	url := testRegistry(t)
	ctx := context.Background()
	c, _ := registry.NewClient(url, registry.ClientOptions{})
	prev := filepath.Join(checkData, "previous")
	for subject, file := range map[string]string{"orders-value": "schemas/orders.avsc", "users-value": "schemas/users.avsc"} {
		text, _ := os.ReadFile(filepath.Join(prev, file))
		if _, err := c.Register(ctx, subject, registry.RegisterRequest{Schema: string(text)}, false); err != nil {
			t.Fatal(err)
		}
	}
	text, _ := os.ReadFile(filepath.Join(prev, "proto/payment.proto"))
	if _, err := c.Register(ctx, "payment-value", registry.RegisterRequest{Schema: string(text), SchemaType: "PROTOBUF"}, false); err != nil {
		t.Fatal(err)
	}
	cur := filepath.Join(checkData, "current")
	r := runIn(t, cur, "check", "--against-registry", url)
	for _, want := range []string{
		"schemas/orders.avsc:8:32: orders-value: /fields/2/type: reader type \"int\" cannot read writer type \"string\" (against version 1) [TYPE_MISMATCH]",
		"proto/payment.proto:6:3: payment-value: #/Payment/2: ",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("missing %q in\n%s", want, r.stdout)
		}
	}
	if r.code != 100 || strings.Contains(r.stdout, "SCHEMA_FILE_DELETED") {
		t.Fatalf("%+v", r)
	}
	// The registry's level applies: at NONE the orders change passes.
	if err := c.SetConfig(ctx, "orders-value", "NONE"); err != nil {
		t.Fatal(err)
	}
	if err := c.SetConfig(ctx, "payment-value", "NONE"); err != nil {
		t.Fatal(err)
	}
	r = runIn(t, cur, "check", "--against-registry", url, "--dry-run")
	if r.code != 0 || !strings.Contains(r.stderr, "would register schemas/new.avsc as a new version of new-value") || !strings.Contains(r.stderr, "would register schemas/orders.avsc") {
		t.Fatalf("dry run: %+v", r)
	}
	if subs, _ := c.Subjects(ctx, false); len(subs) != 3 {
		t.Fatalf("a dry run registered: %v", subs)
	}
	r = runIn(t, cur, "check", "--against-registry", url, "--register")
	if r.code != 0 || !strings.Contains(r.stderr, "registered schemas/new.avsc as new-value") {
		t.Fatalf("register: %+v", r)
	}
	if vs, err := c.Versions(ctx, "users-value", false); err != nil || len(vs) != 2 {
		t.Fatalf("users-value versions: %v %v", vs, err)
	}
	// Registering again has nothing to do.
	if r := runIn(t, cur, "check", "--against-registry", url, "--register"); r.code != 0 || r.stderr != "" {
		t.Fatalf("second register: %+v", r)
	}
}

// TestCheckConfig maps files to subjects with a config: globs, subject
// templates, levels and references.
func TestCheckConfig(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	prev, cur := filepath.Join(dir, "prev"), filepath.Join(dir, "cur")
	for _, d := range []string{prev, cur} {
		_ = os.MkdirAll(filepath.Join(d, "events", "v1"), 0o755)
		_ = os.MkdirAll(filepath.Join(d, "proto"), 0o755)
		writeFile(t, filepath.Join(d, "proto"), "money.proto", "syntax = \"proto3\";\npackage m;\nmessage Money { int64 units = 1; }\n")
	}
	writeFile(t, filepath.Join(prev, "events", "v1"), "click.avsc", `{"type":"record","name":"Click","fields":[{"name":"x","type":"int"}]}`)
	writeFile(t, filepath.Join(cur, "events", "v1"), "click.avsc", `{"type":"record","name":"Click","fields":[{"name":"x","type":"long"}]}`)
	writeFile(t, filepath.Join(prev, "proto"), "order.proto", "syntax = \"proto3\";\npackage o;\nimport \"money.proto\";\nmessage Order { m.Money total = 1; }\n")
	writeFile(t, filepath.Join(cur, "proto"), "order.proto", "syntax = \"proto3\";\npackage o;\nimport \"money.proto\";\nmessage Order { m.Money total = 1; string note = 2; }\n")
	writeFile(t, cur, "schemaflow-check.yaml", `version: 1
default:
  level: FULL
schemas:
  - files: "events/**/*.avsc"
    subject: "events.{name}"
  - files: "proto/order.proto"
    subject: "orders-value"
    level: BACKWARD
    references:
      - name: money.proto
        file: proto/money.proto
        subject: money-value
        version: 1
`)
	// At FULL, int -> long breaks the old readers.
	r := runIn(t, cur, "check", "--against", "../prev")
	if r.code != 100 || !strings.Contains(r.stdout, `events/v1/click.avsc:1:1: events.click: /fields/0/type: reader type "int" cannot read writer type "long"`) || strings.Contains(r.stdout, "money") {
		t.Fatalf("config: %+v", r)
	}
	bad := writeFile(t, dir, "bad.yaml", "version: 2\nschemas:\n  - type: xml\n    level: SIDEWAYS\n  - files: \"a/[\"\n    extra: 1\n")
	r = runIn(t, cur, "check", "--config", bad, "--against", "../prev")
	if r.code != 1 || !strings.Contains(r.stderr, "line 6: field extra not found") {
		t.Fatalf("unknown key: %+v", r)
	}
	bad2 := writeFile(t, dir, "bad2.yaml", "version: 2\nschemas:\n  - type: xml\n    level: SIDEWAYS\n")
	r = runIn(t, cur, "check", "--config", bad2, "--against", "../prev")
	for _, want := range []string{"bad2.yaml:1: version must be 1, not 2", "bad2.yaml:3: schemas[0]: files is required", "bad2.yaml:3: schemas[0]: unknown schema format \"xml\"", "bad2.yaml:4: schemas[0]: unknown compatibility level \"SIDEWAYS\""} {
		if r.code != 1 || !strings.Contains(r.stderr, want) {
			t.Errorf("missing %q in %+v", want, r)
		}
	}
}

func TestCheckUsage(t *testing.T) {
	t.Parallel()
	cur := filepath.Join(checkData, "current")
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"check"}, "must set --against-registry, --against or --against-git"},
		{[]string{"check", "--against", "a", "--against-git", "b"}, "set only one of"},
		{[]string{"check", "--against", "../previous", "--error-format", "xml"}, `--error-format: invalid format: "xml"`},
		{[]string{"check", "--against", "../previous", "--register"}, "--register and --dry-run need --against-registry"},
	} {
		r := runIn(t, cur, tt.args...)
		if r.code != 2 || !strings.Contains(r.stderr, tt.want) {
			t.Errorf("%v: %+v", tt.args, r)
		}
	}
	// Deleted files can be allowed.
	r := runIn(t, cur, "check", "--against", "../previous", "--allow-deleted")
	if r.code != 100 || strings.Contains(r.stdout, "SCHEMA_FILE_DELETED") {
		t.Fatalf("%+v", r)
	}
}
