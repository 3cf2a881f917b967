package main

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/schemaflow/schemaflow/registry"
)

const repoData = "../../testdata/check/repo"

// copyFixture copies a fixture tree, naming gitignore files .gitignore
// (they are stored without the dot so that they do not apply to this
// repository).
func copyFixture(t *testing.T, from, to string) {
	t.Helper()
	err := filepath.Walk(from, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		if info.Name() == "gitignore" {
			rel = filepath.Join(filepath.Dir(rel), ".gitignore")
		}
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

// fixtureRepo builds the service repository of testdata/check/repo: the
// before tree committed, then the after tree in the working tree, staged
// (as a pre-commit hook sees it). It returns the repository's directory.
func fixtureRepo(t *testing.T) string {
	t.Helper()
	requireGit(t)
	dir := t.TempDir()
	copyFixture(t, filepath.Join(repoData, "before"), dir)
	git(t, dir, "init", "-q")
	git(t, dir, "add", "-A")
	git(t, dir, "commit", "-q", "-m", "before")
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() != ".git" {
			if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
				t.Fatal(err)
			}
		}
	}
	copyFixture(t, filepath.Join(repoData, "after"), dir)
	git(t, dir, "add", "-A")
	return dir
}

func requireGit(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Fatal("git is required")
	}
}

// checkGolden compares out with a golden file, or rewrites it with -update.
func checkGolden(t *testing.T, golden, out string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(golden, []byte(out), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if out != string(want) {
		t.Errorf("output differs from %s (rerun with -update to accept):\n%s", golden, out)
	}
}

// TestCheckRepoZeroConfig checks an ordinary service repository with no
// config against its previous commit: only the breaking changes planted
// in schema files are reported, in each output format, at their place;
// manifests, editor settings, OpenAPI, node_modules, testdata and ignored
// files are left alone, and moved files keep their subjects.
func TestCheckRepoZeroConfig(t *testing.T) {
	t.Parallel()
	dir := fixtureRepo(t)
	for _, format := range []string{"text", "json", "github-actions", "junit"} {
		r := runIn(t, dir, "check", "--against-git", "HEAD", "--error-format", format)
		if r.code != 100 || r.stderr != "" {
			t.Fatalf("%s: %+v", format, r)
		}
		checkGolden(t, filepath.Join(repoData, "golden", format+".out"), r.stdout)
		if format != "text" {
			continue
		}
		// Only schema files are reported, and the moved ones are not.
		for _, l := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
			if !strings.HasPrefix(l, "schemas/") && !strings.HasPrefix(l, "proto/") {
				t.Errorf("finding for a file that is not a schema: %s", l)
			}
			if strings.Contains(l, "SCHEMA_FILE_DELETED") && !strings.HasPrefix(l, "schemas/avro/legacy.avsc:") {
				t.Errorf("a moved file reported deleted: %s", l)
			}
		}
	}
	r := runIn(t, dir, "check", "--against-git", "HEAD", "--verbose")
	if r.code != 100 {
		t.Fatalf("verbose: %+v", r)
	}
	checkGolden(t, filepath.Join(repoData, "golden", "verbose.err"), r.stderr)
}

// moduleRoot is this repository's root, where the hook and action
// definitions are.
const moduleRoot = "../.."

// buildSchemaflow builds the binary into a new directory and returns the
// directory.
func buildSchemaflow(t *testing.T) string {
	t.Helper()
	bin := t.TempDir()
	cmd := exec.Command("go", "build", "-o", filepath.Join(bin, "schemaflow"), ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// requirePreCommit returns pre-commit's path; without it the test skips,
// unless CI is set (.ci/run installs it).
func requirePreCommit(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("pre-commit")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("pre-commit is required when CI is set")
		}
		t.Skip("pre-commit is not installed")
	}
	return p
}

// hookRepo makes a git repository of files, relative to this repository's
// root, for pre-commit to install hooks from.
func hookRepo(t *testing.T, files []string) string {
	t.Helper()
	dir := t.TempDir()
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(moduleRoot, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, f)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	git(t, dir, "init", "-q")
	git(t, dir, "add", "-A")
	git(t, dir, "commit", "-q", "-m", "hooks")
	return dir
}

// preCommitTry runs `pre-commit try-repo REPO HOOK` in dir, on the staged
// changes.
func preCommitTry(t *testing.T, dir, repo, hook string, env ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(requirePreCommit(t), "try-repo", repo, hook)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), append([]string{"PRE_COMMIT_HOME=" + t.TempDir(), "PRE_COMMIT_COLOR=never", "SKIP="}, env...)...)
	out, err := cmd.CombinedOutput()
	code := 0
	if err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			t.Fatalf("pre-commit: %v\n%s", err, out)
		}
		code = ee.ExitCode()
	}
	return string(out), code
}

// wantFindings checks that out holds each line of the text golden.
func wantFindings(t *testing.T, out string) {
	t.Helper()
	want, err := os.ReadFile(filepath.Join(repoData, "golden", "text.out"))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(strings.TrimSpace(string(want)), "\n") {
		if !strings.Contains(out, l) {
			t.Errorf("missing %q in\n%s", l, out)
		}
	}
}

// TestPreCommitHook runs the hooks of .pre-commit-hooks.yaml through
// `pre-commit try-repo` on the fixture repository's staged changes: the
// hook fails with the findings, and passes once they are committed. The
// system hook uses a built binary on PATH; the golang hook builds this
// module itself (offline, from the module cache), under CI.
func TestPreCommitHook(t *testing.T) {
	t.Parallel()
	requirePreCommit(t)
	requireGit(t)
	t.Run("system", func(t *testing.T) {
		t.Parallel()
		dir := fixtureRepo(t)
		repo := hookRepo(t, []string{".pre-commit-hooks.yaml"})
		path := "PATH=" + buildSchemaflow(t) + string(os.PathListSeparator) + os.Getenv("PATH")
		out, code := preCommitTry(t, dir, repo, "schemaflow-check-system", path)
		if code != 1 || !strings.Contains(out, "schemaflow check") || !strings.Contains(out, "Failed") || !strings.Contains(out, "exit code: 100") {
			t.Fatalf("exit %d:\n%s", code, out)
		}
		wantFindings(t, out)
		git(t, dir, "commit", "-q", "-m", "after")
		if out, code := preCommitTry(t, dir, repo, "schemaflow-check-system", path); code != 0 || !strings.Contains(out, "Passed") {
			t.Fatalf("after the commit: exit %d:\n%s", code, out)
		}
	})
	t.Run("golang", func(t *testing.T) {
		t.Parallel()
		// pre-commit builds the whole module in its own environment, which
		// takes minutes on a loaded machine: CI runs it, and so does
		// SCHEMAFLOW_TEST_GOLANG_HOOK=1.
		if testing.Short() || os.Getenv("CI") == "" && os.Getenv("SCHEMAFLOW_TEST_GOLANG_HOOK") == "" {
			t.Skip("builds the module in pre-commit's environment; set CI or SCHEMAFLOW_TEST_GOLANG_HOOK=1 (and not -short) to run it")
		}
		dir := fixtureRepo(t)
		ls := exec.Command("git", "ls-files", "-z", "--cached", "--others", "--exclude-standard")
		ls.Dir = moduleRoot
		list, err := ls.Output()
		if err != nil {
			t.Fatal(err)
		}
		var files []string
		for _, f := range strings.Split(string(list), "\x00") {
			if _, err := os.Stat(filepath.Join(moduleRoot, f)); f != "" && err == nil {
				files = append(files, f)
			}
		}
		repo := hookRepo(t, files)
		modcache, err := exec.Command("go", "env", "GOMODCACHE").Output()
		if err != nil {
			t.Fatal(err)
		}
		out, code := preCommitTry(t, dir, repo, "schemaflow-check",
			"GOMODCACHE="+strings.TrimSpace(string(modcache)), "GOPROXY=off", "GOFLAGS=-mod=mod", "GOTOOLCHAIN=local", "GOWORK=off")
		if code != 1 || !strings.Contains(out, "exit code: 100") {
			t.Fatalf("exit %d:\n%s", code, out)
		}
		wantFindings(t, out)
	})
}

// actionStep is a step of a composite action.
type actionStep struct {
	Name             string            `yaml:"name"`
	If               string            `yaml:"if"`
	Uses             string            `yaml:"uses"`
	Shell            string            `yaml:"shell"`
	Run              string            `yaml:"run"`
	WorkingDirectory string            `yaml:"working-directory"`
	Env              map[string]string `yaml:"env"`
}

// runAction runs the run steps of action.yml as a GitHub runner would:
// each step's script with bash -eo pipefail, ${{ inputs.* }} and
// ${{ github.action_path }} substituted in env and working-directory,
// GITHUB_PATH applied between steps. It returns the last step's output
// and exit code, and the uses steps it skipped.
func runAction(t *testing.T, workspace string, inputs map[string]string) (string, int, []actionStep) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(moduleRoot, "action.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var action struct {
		Inputs map[string]struct {
			Default string `yaml:"default"`
		} `yaml:"inputs"`
		Runs struct {
			Using string       `yaml:"using"`
			Steps []actionStep `yaml:"steps"`
		} `yaml:"runs"`
	}
	if err := yaml.Unmarshal(data, &action); err != nil {
		t.Fatal(err)
	}
	if action.Runs.Using != "composite" {
		t.Fatalf("runs.using is %q", action.Runs.Using)
	}
	values := map[string]string{}
	for name, in := range action.Inputs {
		values[name] = in.Default
	}
	for name, v := range inputs {
		if _, ok := action.Inputs[name]; !ok {
			t.Fatalf("action.yml has no input %q", name)
		}
		values[name] = v
	}
	actionPath, err := filepath.Abs(moduleRoot)
	if err != nil {
		t.Fatal(err)
	}
	expr := regexp.MustCompile(`\$\{\{\s*([^}]*?)\s*\}\}`)
	subst := func(s string) string {
		return expr.ReplaceAllStringFunc(s, func(m string) string {
			e := expr.FindStringSubmatch(m)[1]
			switch {
			case strings.HasPrefix(e, "inputs."):
				v, ok := values[strings.TrimPrefix(e, "inputs.")]
				if !ok {
					t.Fatalf("unknown input in %s", m)
				}
				return v
			case e == "github.action_path":
				return actionPath
			}
			t.Fatalf("expression %s is not supported by this test", m)
			return ""
		})
	}
	runnerTemp := t.TempDir()
	githubPath := filepath.Join(runnerTemp, "github_path")
	if err := os.WriteFile(githubPath, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	path := os.Getenv("PATH")
	var skipped []actionStep
	var out string
	code := 0
	for _, st := range action.Runs.Steps {
		if st.Uses != "" {
			skipped = append(skipped, st)
			continue
		}
		if st.Shell != "bash" {
			t.Fatalf("step %q: shell %q", st.Name, st.Shell)
		}
		if strings.Contains(st.Run, "${{") {
			t.Fatalf("step %q: expressions in run scripts (pass them through env): %s", st.Name, st.Run)
		}
		script := filepath.Join(runnerTemp, "step.sh")
		if err := os.WriteFile(script, []byte(st.Run), 0o644); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command("bash", "--noprofile", "--norc", "-eo", "pipefail", script)
		cmd.Dir = filepath.Join(workspace, subst(st.WorkingDirectory))
		cmd.Env = append(os.Environ(), "PATH="+path, "RUNNER_TEMP="+runnerTemp, "GITHUB_PATH="+githubPath,
			"GITHUB_WORKSPACE="+workspace, "GITHUB_ACTION_PATH="+actionPath, "GOTOOLCHAIN=local", "GOFLAGS=-mod=mod", "GOPROXY=off")
		for k, v := range st.Env {
			cmd.Env = append(cmd.Env, k+"="+subst(v))
		}
		b, err := cmd.CombinedOutput()
		out, code = string(b), 0
		if err != nil {
			var ee *exec.ExitError
			if !errors.As(err, &ee) {
				t.Fatalf("step %q: %v", st.Name, err)
			}
			code = ee.ExitCode()
		}
		if code != 0 {
			return out, code, skipped
		}
		added, err := os.ReadFile(githubPath)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range strings.Split(strings.TrimSpace(string(added)), "\n") {
			if l != "" && !strings.Contains(path, l) {
				path = l + string(os.PathListSeparator) + path
			}
		}
	}
	return out, code, skipped
}

// TestGitHubAction runs the composite action's steps: it installs
// schemaflow from this revision with go install and checks the fixture
// repository against a git ref and against a registry, writing
// annotations.
func TestGitHubAction(t *testing.T) {
	t.Parallel()
	dir := fixtureRepo(t)
	git(t, dir, "commit", "-q", "-m", "after")
	out, code, skipped := runAction(t, dir, map[string]string{"against-git": "HEAD~1"})
	if code != 100 {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	if len(skipped) != 1 || skipped[0].Uses != "actions/setup-go@v5" || skipped[0].If != "inputs.go-version != ''" {
		t.Errorf("uses steps: %+v", skipped)
	}
	want, err := os.ReadFile(filepath.Join(repoData, "golden", "github-actions.out"))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.ReplaceAll(out, "@HEAD~1)", "@HEAD)"); got != string(want) {
		t.Errorf("annotations differ from github-actions.out:\n%s", out)
	}

	// Against a registry holding the previous order schema, from a
	// subdirectory, with extra arguments.
	url := testRegistry(t)
	c, _ := registry.NewClient(url, registry.ClientOptions{})
	before, err := os.ReadFile(filepath.Join(repoData, "before", "schemas", "avro", "order.avsc"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Register(context.Background(), "order-value", registry.RegisterRequest{Schema: string(before)}, false); err != nil {
		t.Fatal(err)
	}
	out, code, _ = runAction(t, dir, map[string]string{"against-registry": url, "working-directory": "schemas", "args": "--allow-deleted --verbose", "error-format": "text"})
	if code != 100 || !strings.Contains(out, `avro/order.avsc:8:34: order-value: /fields/2/type: reader type "int" cannot read writer type "long" (against version 1) [TYPE_MISMATCH]`) || !strings.Contains(out, "checked json/product.schema.json as product.schema-value") {
		t.Fatalf("against the registry: exit %d:\n%s", code, out)
	}
	// Both sources, or none, are refused.
	if out, code, _ := runAction(t, dir, map[string]string{"against-registry": url, "against-git": "HEAD"}); code != 2 || !strings.Contains(out, "::error::set only one of against-git and against-registry") {
		t.Fatalf("both: exit %d:\n%s", code, out)
	}
}

// TestGitLabSnippet runs the script of ci/schemaflow-check.gitlab-ci.yml
// as a merge request pipeline and as a branch pipeline, with the job's
// variables. The go install line needs the network, so it is checked but
// not run: the binary is built from this revision instead.
func TestGitLabSnippet(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile(filepath.Join(moduleRoot, "ci", "schemaflow-check.gitlab-ci.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var jobs map[string]struct {
		Image     string            `yaml:"image"`
		Variables map[string]string `yaml:"variables"`
		Script    []string          `yaml:"script"`
		Artifacts struct {
			When    string `yaml:"when"`
			Reports struct {
				JUnit string `yaml:"junit"`
			} `yaml:"reports"`
		} `yaml:"artifacts"`
	}
	if err := yaml.Unmarshal(data, &jobs); err != nil {
		t.Fatal(err)
	}
	job, ok := jobs["schemaflow-check"]
	if !ok || job.Artifacts.Reports.JUnit == "" || job.Artifacts.When != "always" {
		t.Fatalf("job: %+v", jobs)
	}
	var script []string
	for _, line := range job.Script {
		if strings.HasPrefix(line, "go install ") {
			if !strings.Contains(line, `"github.com/schemaflow/schemaflow/cmd/schemaflow@${SCHEMAFLOW_VERSION}"`) {
				t.Errorf("install line: %s", line)
			}
			continue
		}
		script = append(script, line)
	}
	if len(script) != len(job.Script)-1 {
		t.Fatalf("want one go install line in %q", job.Script)
	}
	bin := buildSchemaflow(t)

	dir := fixtureRepo(t)
	git(t, dir, "commit", "-q", "-m", "after")
	origin := filepath.Join(t.TempDir(), "origin.git")
	git(t, dir, "init", "-q", "--bare", origin)
	git(t, dir, "push", "-q", origin, "HEAD~1:refs/heads/main")
	git(t, dir, "remote", "add", "origin", origin)

	run := func(env ...string) (string, int) {
		cmd := exec.Command("bash", "-e", "-c", strings.Join(script, "\n"))
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"), "GOPATH="+t.TempDir())
		for k, v := range job.Variables {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
		cmd.Env = append(cmd.Env, env...)
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			t.Fatal(err)
		}
		if err != nil {
			return string(out), ee.ExitCode()
		}
		return string(out), 0
	}
	for _, tt := range []struct {
		name string
		env  []string
	}{
		{"merge request", []string{"CI_MERGE_REQUEST_TARGET_BRANCH_NAME=main"}},
		{"branch", nil},
	} {
		out, code := run(tt.env...)
		if code != 100 {
			t.Fatalf("%s: exit %d:\n%s", tt.name, code, out)
		}
		// The log shows the findings, and the report holds them.
		wantFindings(t, strings.NewReplacer("@origin/main)", "@HEAD)", "@HEAD~1)", "@HEAD)").Replace(out))
		report, err := os.ReadFile(filepath.Join(dir, job.Artifacts.Reports.JUnit))
		if err != nil {
			t.Fatal(err)
		}
		var suites struct {
			Suites []struct {
				Tests    int `xml:"tests,attr"`
				Failures int `xml:"failures,attr"`
				Cases    []struct {
					Name     string `xml:"name,attr"`
					Failures []struct {
						Type string `xml:"type,attr"`
					} `xml:"failure"`
				} `xml:"testcase"`
			} `xml:"testsuite"`
		}
		if err := xml.Unmarshal(report, &suites); err != nil {
			t.Fatalf("%s: %v\n%s", tt.name, err, report)
		}
		if len(suites.Suites) != 1 || suites.Suites[0].Tests != 9 || suites.Suites[0].Failures != 5 {
			t.Fatalf("%s: report: %+v", tt.name, suites)
		}
		failed := map[string][]string{}
		for _, c := range suites.Suites[0].Cases {
			for _, f := range c.Failures {
				failed[c.Name] = append(failed[c.Name], f.Type)
			}
		}
		// The same findings as the golden JSON output, by subject.
		golden, err := os.ReadFile(filepath.Join(repoData, "golden", "json.out"))
		if err != nil {
			t.Fatal(err)
		}
		want := map[string][]string{}
		for _, l := range strings.Split(strings.TrimSpace(string(golden)), "\n") {
			var f struct {
				Subject string `json:"subject"`
				Type    string `json:"type"`
			}
			if err := json.Unmarshal([]byte(l), &f); err != nil {
				t.Fatal(err)
			}
			want[f.Subject] = append(want[f.Subject], f.Type)
		}
		if !reflect.DeepEqual(failed, want) {
			t.Errorf("%s: failures %v, want %v", tt.name, failed, want)
		}
	}
}

// TestCheckMovedAgainstDir checks the fixture's after tree against its
// before tree in a plain directory: the file moved with the same content
// keeps its subject; without git, the one moved and changed is a deletion
// and a new subject.
func TestCheckMovedAgainstDir(t *testing.T) {
	t.Parallel()
	dir := fixtureRepo(t)
	before := t.TempDir()
	copyFixture(t, filepath.Join(repoData, "before"), before)
	r := runIn(t, dir, "check", "--against", before, "--verbose")
	if r.code != 100 {
		t.Fatalf("%+v", r)
	}
	var deleted []string
	for _, l := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		if strings.HasSuffix(l, "[SCHEMA_FILE_DELETED]") {
			deleted = append(deleted, l[:strings.Index(l, ":")])
		}
	}
	if want := []string{"schemas/avro/legacy.avsc", "schemas/json/address.schema.json"}; !reflect.DeepEqual(deleted, want) {
		t.Errorf("deleted %q, want %q:\n%s", deleted, want, r.stdout)
	}
	for _, want := range []string{
		"moved schemas/avro/customer.avsc -> schemas/avro/client.avsc: keeps subject customer-value (not client-value)",
		"checked schemas/json/postal-address.schema.json as postal-address.schema-value",
	} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("missing %q in\n%s", want, r.stderr)
		}
	}
	if strings.Contains(r.stdout, "postal-address") || !strings.Contains(r.stdout, "schemas/avro/order.avsc:8:34: order-value: /fields/2/type: reader type \"int\" cannot read writer type \"long\" (against "+before+"/schemas/avro/order.avsc) [TYPE_MISMATCH]") {
		t.Errorf("findings:\n%s", r.stdout)
	}
}

// TestCheckProtoReferences checks and registers .proto files that import
// each other against a registry: the imported file is registered first and
// referenced by subject and version, as the registry stores it.
func TestCheckProtoReferences(t *testing.T) {
	t.Parallel()
	url := testRegistry(t)
	ctx := context.Background()
	c, _ := registry.NewClient(url, registry.ClientOptions{})
	dir := t.TempDir()
	money := "syntax = \"proto3\";\npackage shop;\nmessage Money {\n  int64 units = 1;\n}\n"
	order := "syntax = \"proto3\";\npackage shop;\nimport \"shop/money.proto\";\nimport \"google/protobuf/timestamp.proto\";\nmessage Order {\n  Money total = 1;\n  google.protobuf.Timestamp at = 2;\n}\n"
	writeFile(t, dir, "buf.work.yaml", "version: v1\ndirectories:\n  - api\n")
	if err := os.MkdirAll(filepath.Join(dir, "api", "shop"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "api", "shop"), "money.proto", money)
	// order sorts before money's subject, so the import order matters.
	writeFile(t, filepath.Join(dir, "api", "shop"), "a_order.proto", order)
	r := runIn(t, dir, "check", "--against-registry", url, "--register")
	if r.code != 0 || !strings.Contains(r.stderr, "registered api/shop/money.proto as money-value, id 1\nregistered api/shop/a_order.proto as a_order-value, id 2\n") {
		t.Fatalf("register: %+v", r)
	}
	v, err := c.Version(ctx, "a_order-value", 1, false)
	if err != nil {
		t.Fatal(err)
	}
	if want := []registry.Reference{{Name: "shop/money.proto", Subject: "money-value", Version: 1}}; !reflect.DeepEqual(v.References, want) {
		t.Fatalf("references %+v, want %+v", v.References, want)
	}
	// A compatible change to the import: a new version of both subjects,
	// the importing one referencing the new import.
	writeFile(t, filepath.Join(dir, "api", "shop"), "money.proto", strings.Replace(money, "int64 units = 1;", "int64 units = 1;\n  int32 nanos = 2;", 1))
	r = runIn(t, dir, "check", "--against-registry", url, "--register")
	if r.code != 0 || !strings.Contains(r.stderr, "registered api/shop/money.proto as money-value") || !strings.Contains(r.stderr, "registered api/shop/a_order.proto as a_order-value") {
		t.Fatalf("second register: %+v", r)
	}
	if v, err = c.Version(ctx, "a_order-value", 2, false); err != nil || v.References[0].Version != 2 {
		t.Fatalf("a_order-value v2: %+v %v", v, err)
	}
	// Nothing changed: nothing to register, and the check passes.
	if r := runIn(t, dir, "check", "--against-registry", url, "--register"); r.code != 0 || r.stderr != "" {
		t.Fatalf("third register: %+v", r)
	}
	// A breaking change in the import is reported where it is.
	writeFile(t, filepath.Join(dir, "api", "shop"), "money.proto", strings.Replace(money, "int64 units = 1;", "string units = 1;\n  int32 nanos = 2;", 1))
	r = runIn(t, dir, "check", "--against-registry", url)
	want := "api/shop/a_order.proto:6:3: a_order-value: #/Order/1: the field's message type changed incompatibly (against version 2) [FIELD_NAMED_TYPE_CHANGED]\n" +
		"api/shop/money.proto:4:3: money-value: #/Money/1: the field's scalar type changed to one that is not wire-compatible (against version 2) [FIELD_SCALAR_KIND_CHANGED]\n"
	if r.code != 100 || r.stdout != want {
		t.Fatalf("breaking import: %+v", r)
	}
}

// TestCheckExplain prints a rule's explanation through the command line.
func TestCheckExplain(t *testing.T) {
	t.Parallel()
	r := runIn(t, t.TempDir(), "check", "--explain", "FIELD_SCALAR_KIND_CHANGED")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "FIELD_SCALAR_KIND_CHANGED (protobuf)\n\nWhat it means:\n") || !strings.Contains(r.stdout, "How to evolve safely:\n  Keep the field's type") {
		t.Fatalf("%+v", r)
	}
	if r := runIn(t, t.TempDir(), "check", "--explain", "NOPE"); r.code != 2 || !strings.Contains(r.stderr, `unknown rule "NOPE"`) {
		t.Fatalf("unknown: %+v", r)
	}
}

// TestCheckProtoImportsFromRef resolves imports through buf.work.yaml
// from the tree being checked: the previous version of a .proto compiles
// with the previous version of a vendored import, so a breaking change in
// the import shows in the file that uses it. Import paths outside the
// repository come from the config and are read from disk.
func TestCheckProtoImportsFromRef(t *testing.T) {
	t.Parallel()
	requireGit(t)
	base := t.TempDir()
	dir := filepath.Join(base, "repo")
	for _, d := range []string{"proto/shop", "third_party/proto/common", "../shared/ext"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	writeFile(t, dir, "buf.work.yaml", "version: v1\ndirectories:\n  - proto\n  - third_party/proto\n")
	money := "syntax = \"proto3\";\npackage common;\nmessage Money {\n  int64 units = 1;\n}\n"
	writeFile(t, filepath.Join(dir, "third_party/proto/common"), "money.proto", money)
	writeFile(t, filepath.Join(dir, "proto/shop"), "order.proto", "syntax = \"proto3\";\npackage shop;\n\nimport \"common/money.proto\";\nimport \"google/protobuf/duration.proto\";\n\nmessage Order {\n  common.Money total = 1;\n  google.protobuf.Duration ttl = 2;\n}\n")
	git(t, dir, "init", "-q")
	git(t, dir, "add", "-A")
	git(t, dir, "commit", "-q", "-m", "v1")
	if r := runIn(t, dir, "check", "--against-git", "HEAD"); r.code != 0 || r.stdout != "" {
		t.Fatalf("unchanged: %+v", r)
	}
	writeFile(t, filepath.Join(dir, "third_party/proto/common"), "money.proto", strings.Replace(money, "int64 units", "string units", 1))
	r := runIn(t, dir, "check", "--against-git", "HEAD", "--verbose")
	want := "proto/shop/order.proto:1:1: order-value: #/Money/1: in import \"common/money.proto\": the field's scalar type changed to one that is not wire-compatible (against proto/shop/order.proto@HEAD) [FIELD_SCALAR_KIND_CHANGED]\n" +
		"proto/shop/order.proto:8:3: order-value: #/Order/1: the field's message type changed incompatibly (against proto/shop/order.proto@HEAD) [FIELD_NAMED_TYPE_CHANGED]\n"
	if r.code != 100 || r.stdout != want || !strings.Contains(r.stderr, "protobuf import paths from buf.work.yaml: proto, third_party/proto\n") || !strings.Contains(r.stderr, "skipped third_party/: vendored dependencies\n") {
		t.Fatalf("%+v", r)
	}
	// An import path outside the repository, from the config.
	writeFile(t, filepath.Join(base, "shared/ext"), "note.proto", "syntax = \"proto3\";\npackage ext;\nmessage Note { string text = 1; }\n")
	writeFile(t, filepath.Join(dir, "proto/shop"), "note_holder.proto", "syntax = \"proto3\";\npackage shop;\nimport \"ext/note.proto\";\nmessage Holder { ext.Note note = 1; }\n")
	writeFile(t, dir, "schemaflow-check.yaml", "version: 1\nimport_paths: [proto, ../shared]\nschemas:\n  - files: \"proto/**/*.proto\"\n")
	r = runIn(t, dir, "check", "--against-git", "HEAD")
	if r.code != 1 || !strings.Contains(r.stderr, `proto/shop/order.proto: shop/order.proto: protobuf schema: shop/order.proto:4:8: could not resolve path "common/money.proto"`) {
		// The config's import paths replace buf.work.yaml's, so the
		// vendored import is no longer found.
		t.Fatalf("config without the vendored root: %+v", r)
	}
	writeFile(t, dir, "schemaflow-check.yaml", "version: 1\nimport_paths: [proto, third_party/proto, ../shared]\nschemas:\n  - files: \"proto/**/*.proto\"\n")
	r = runIn(t, dir, "check", "--against-git", "HEAD")
	if r.code != 100 || r.stdout != want {
		t.Fatalf("config: %+v", r)
	}
}
