package avro_test

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// With SCHEMAFLOW_REQUIRE_CONFORMANCE set (as .ci/run does), a test that
// reads the Avro vectors fails when they are missing instead of skipping;
// without it, it skips. Each case runs this test binary on an empty
// conformance directory.
func TestConformanceRequired(t *testing.T) {
	if os.Getenv("SCHEMAFLOW_CONFORMANCE_CHILD") != "" {
		t.Skip("inside a child run")
	}
	for _, tc := range []struct {
		test     string
		require  bool
		wantFail bool
		want     string
	}{
		{"TestAvroParserConformance", true, true, "conformance vectors missing"},
		{"TestAvroParserConformance", false, false, "SKIP: TestAvroParserConformance"},
		{"TestMarshalRoundTrip", true, true, "conformance vectors missing"},
		{"TestMarshalRoundTrip", false, false, "PASS"},
	} {
		name := tc.test
		if tc.require {
			name += "/required"
		}
		t.Run(name, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^"+tc.test+"$", "-test.v")
			env := []string{"SCHEMAFLOW_CONFORMANCE_CHILD=1", "SCHEMAFLOW_CONFORMANCE_DIR=" + t.TempDir()}
			for _, kv := range os.Environ() {
				if !strings.HasPrefix(kv, "SCHEMAFLOW_REQUIRE_CONFORMANCE=") && !strings.HasPrefix(kv, "SCHEMAFLOW_CONFORMANCE_DIR=") {
					env = append(env, kv)
				}
			}
			if tc.require {
				env = append(env, "SCHEMAFLOW_REQUIRE_CONFORMANCE=1")
			}
			cmd.Env = env
			out, err := cmd.CombinedOutput()
			if failed := err != nil; failed != tc.wantFail || !strings.Contains(string(out), tc.want) {
				t.Errorf("failed %v (want %v), output lacks %q or differs:\n%s", failed, tc.wantFail, tc.want, out)
			}
		})
	}
}
