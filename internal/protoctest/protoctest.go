// Package protoctest runs protoc, the reference Protobuf compiler, from
// tests, so that they can check generated .proto files against it and not
// only against protocompile, which accepts some names protoc rejects.
package protoctest

import (
	"bytes"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// Path returns the path of protoc. CI installs it (.ci/run) and sets CI,
// where its absence fails the test; elsewhere the test is skipped.
func Path(t testing.TB) string {
	t.Helper()
	p, err := exec.LookPath("protoc")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("protoc is not installed; .ci/run installs it")
		}
		t.Skip("protoc not installed (apt-get install protobuf-compiler); CI runs this test")
	}
	return p
}

// Run runs protoc with --proto_path=dir and args, feeding it stdin, and
// returns its standard output. A failure fails the test with protoc's
// messages.
func Run(t testing.TB, bin, dir string, stdin []byte, args ...string) []byte {
	t.Helper()
	out, err := run(bin, dir, stdin, args...)
	if err != nil {
		t.Fatalf("protoc %v: %v", args, err)
	}
	return out
}

func run(bin, dir string, stdin []byte, args ...string) ([]byte, error) {
	cmd := exec.Command(bin, append([]string{"--proto_path=" + dir}, args...)...)
	cmd.Stdin = bytes.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("%w\n%s", err, errOut.String())
	}
	return out.Bytes(), nil
}

// Compile writes files (path to .proto text) into a new directory and
// compiles them all with one protoc run, the well-known types included. It
// returns protoc's messages, which name the file and line of each problem,
// as an error.
func Compile(t testing.TB, bin string, files map[string][]byte) error {
	t.Helper()
	dir := t.TempDir()
	names := slices.Sorted(maps.Keys(files))
	for _, name := range names {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, files[name], 0o644); err != nil {
			t.Fatal(err)
		}
	}
	_, err := run(bin, dir, nil, append([]string{"--descriptor_set_out=" + os.DevNull}, names...)...)
	if err != nil {
		return fmt.Errorf("protoc rejects %s: %w", strings.Join(names, " "), err)
	}
	return nil
}
