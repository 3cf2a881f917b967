package main

import (
	"strings"
	"testing"
)

// infer --numbers exact prints the exact goldens of schemas/infer, in both
// formats and for the key; --numbers widen, like no flag, the widening
// ones; a bad mode is a usage error.
func TestInferNumbers(t *testing.T) {
	t.Parallel()
	const input = "testdata/infer/numbers.jsonl"
	tests := []struct {
		args   []string
		golden string
	}{
		{[]string{"--numbers", "exact"}, "numbers.exact.avsc"},
		{[]string{"--numbers", "exact", "--format", "protobuf"}, "numbers.exact.proto"},
		{[]string{"--numbers", "exact", "--key"}, "numbers.exact.key.avsc"},
		{[]string{"--numbers", "exact", "--key", "--format", "protobuf"}, "numbers.exact.key.proto"},
		{[]string{"--numbers", "widen"}, "numbers.avsc"},
		{nil, "numbers.avsc"},
		{[]string{"--format", "protobuf"}, "numbers.proto"},
	}
	for _, tt := range tests {
		args := append([]string{"infer", "--name", "Doc", "--namespace", "golden", input}, tt.args...)
		if r := run(t, "", args...); r.code != 0 || r.stdout != golden(t, tt.golden) {
			t.Errorf("%v: code %d, stderr %s, stdout:\n%s\nwant %s", tt.args, r.code, r.stderr, r.stdout, tt.golden)
		}
	}
	r := run(t, "", "infer", "--numbers", "bogus", input)
	if r.code != 2 || !strings.Contains(r.stderr, `--numbers must be widen or exact, not "bogus"`) || r.stdout != "" {
		t.Errorf("bad mode: %+v", r)
	}
	if r := run(t, "", "infer", "--help"); r.code != 0 || !strings.Contains(r.stdout, "--numbers MODE") {
		t.Errorf("help: %+v", r)
	}
}
