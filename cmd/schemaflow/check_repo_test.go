package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
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
