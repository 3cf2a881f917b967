package evolution

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// With SCHEMAFLOW_REQUIRE_CONFORMANCE set (as .ci/run does), the tests of
// Confluent's vectors fail when the vectors are missing instead of
// skipping; without it, they skip. Each case runs this test binary on an
// empty conformance directory.
func TestConformanceRequired(t *testing.T) {
	if os.Getenv("SCHEMAFLOW_CONFORMANCE_CHILD") != "" {
		t.Skip("inside a child run")
	}
	for _, test := range []string{"TestConfluentProtobufVectors", "TestConfluentJSONVectors"} {
		for _, require := range []bool{true, false} {
			name := test
			if require {
				name += "/required"
			}
			t.Run(name, func(t *testing.T) {
				cmd := exec.Command(os.Args[0], "-test.run=^"+test+"$", "-test.v")
				env := []string{"SCHEMAFLOW_CONFORMANCE_CHILD=1", "SCHEMAFLOW_CONFORMANCE_DIR=" + t.TempDir()}
				for _, kv := range os.Environ() {
					if !strings.HasPrefix(kv, "SCHEMAFLOW_REQUIRE_CONFORMANCE=") && !strings.HasPrefix(kv, "SCHEMAFLOW_CONFORMANCE_DIR=") {
						env = append(env, kv)
					}
				}
				if require {
					env = append(env, "SCHEMAFLOW_REQUIRE_CONFORMANCE=1")
				}
				cmd.Env = env
				out, err := cmd.CombinedOutput()
				want := "SKIP: " + test
				if require {
					want = "conformance vectors missing"
				}
				if failed := err != nil; failed != require || !strings.Contains(string(out), want) {
					t.Errorf("failed %v (want %v), output lacks %q:\n%s", failed, require, want, out)
				}
			})
		}
	}
}
