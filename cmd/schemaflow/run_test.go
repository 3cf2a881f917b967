package main

import (
	"context"
	"strings"
	"testing"

	"github.com/schemaflow/schemaflow/cmd/schemaflow/internal/cli"
	"github.com/schemaflow/schemaflow/cmd/schemaflow/internal/command/versioncmd"
)

// runEnv runs schemaflow in process from the repository root with the
// given environment variables.
func runEnv(t *testing.T, vars map[string]string, args ...string) result {
	t.Helper()
	var out, errOut strings.Builder
	env := &cli.Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errOut, Getenv: func(k string) string { return vars[k] }, Dir: "../.."}
	code := cli.Main(context.Background(), Root(versioncmd.Info{}), args, env)
	return result{code, out.String(), errOut.String()}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	env := map[string]string{"REGISTRY_PASSWORD": "pw", "MONGO_URI": "mongodb://m:27017"}
	tests := []struct {
		name   string
		args   []string
		code   int
		stdout []string
		stderr []string
	}{
		{"valid", []string{"validate", "-f", "testdata/spec/valid-full.yaml"}, 0,
			[]string{"testdata/spec/valid-full.yaml:19: source orders-out\n", "testdata/spec/valid-full.yaml:47: sink customers-in\n", "ok: 3 pipelines in 1 files\n"}, nil},
		{"examples", []string{"validate", "-f", "examples/quickstart.yaml", "examples/postgres-to-mongodb.yaml", "examples/protobuf.yaml"}, 0,
			[]string{"source orders-to-kafka", "sink orders-to-mongodb", "ok: "}, nil},
		{"invalid", []string{"validate", "-f", "testdata/spec/invalid-keys.yaml"}, 1, nil,
			[]string{"testdata/spec/invalid-keys.yaml:2: kafka: unknown key \"compresion\"", "testdata/spec/invalid-keys.yaml:15: pipelines[1] (b): unknown key \"error\"", "5 problems in the spec files\n"}},
		{"two files, one name", []string{"validate", "-f", "examples/quickstart.yaml", "-f", "examples/quickstart.yaml"}, 1, nil,
			[]string{`examples/quickstart.yaml:23: pipelines[0]: name "orders-to-kafka" is also used at `}},
		{"no file", []string{"validate"}, 2, nil, []string{"name at least one spec file with -f"}},
		{"run checks first", []string{"run", "-f", "testdata/spec/invalid-values.yaml", "--http-addr", ""}, 1, nil, []string{"invalid-values.yaml:1: version: must be 1, not 2"}},
		{"run bad log format", []string{"run", "-f", "examples/quickstart.yaml", "--log-format", "xml"}, 2, nil, []string{`--log-format "xml": want text or json`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := runEnv(t, env, tt.args...)
			if r.code != tt.code {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", r.code, tt.code, r.stdout, r.stderr)
			}
			for _, w := range tt.stdout {
				if !strings.Contains(r.stdout, w) {
					t.Errorf("stdout lacks %q:\n%s", w, r.stdout)
				}
			}
			for _, w := range tt.stderr {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, r.stderr)
				}
			}
		})
	}
}
