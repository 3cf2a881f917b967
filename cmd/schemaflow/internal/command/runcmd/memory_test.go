package runcmd

import (
	"bytes"
	"errors"
	"log/slog"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/schemaflow/schemaflow/cmd/schemaflow/internal/cli"
)

// The memory limit's sources in order: GOMEMLIMIT (the flag ignored),
// --memory-limit off, --memory-limit SIZE, a limit the program set, the
// pipelines' derived limit; a bad size is a usage error.
func TestChooseMemoryLimit(t *testing.T) {
	const derived, set = 72 << 20, 1 << 30
	env := func(vars map[string]string) func(string) (string, bool) {
		return func(k string) (string, bool) { v, ok := vars[k]; return v, ok }
	}
	gomem := env(map[string]string{"GOMEMLIMIT": "900MiB"})
	none := env(nil)
	for _, tc := range []struct {
		name    string
		flag    string
		env     func(string) (string, bool)
		current int64
		want    memoryChoice
	}{
		{"derived by default", "", none, noLimit, memoryChoice{limit: derived, from: limitFromDefault, set: true}},
		{"the flag", "256MiB", none, noLimit, memoryChoice{limit: 256 << 20, from: limitFromFlag, set: true}},
		{"the flag in plain bytes", " 100000000 ", none, noLimit, memoryChoice{limit: 100000000, from: limitFromFlag, set: true}},
		{"the flag over a program's limit", "256MiB", none, set, memoryChoice{limit: 256 << 20, from: limitFromFlag, set: true}},
		{"off", "off", none, noLimit, memoryChoice{limit: noLimit, from: limitFromNone}},
		{"GOMEMLIMIT", "", gomem, 900 << 20, memoryChoice{limit: 900 << 20, from: limitFromEnv}},
		{"GOMEMLIMIT over the flag", "256MiB", gomem, 900 << 20, memoryChoice{limit: 900 << 20, from: limitFromEnv, ignored: "256MiB"}},
		{"GOMEMLIMIT=off is set too", "", env(map[string]string{"GOMEMLIMIT": "off"}), noLimit, memoryChoice{limit: noLimit, from: limitFromEnv}},
		{"an empty GOMEMLIMIT is unset", "", env(map[string]string{"GOMEMLIMIT": ""}), noLimit, memoryChoice{limit: derived, from: limitFromDefault, set: true}},
		{"a program's limit stays", "", none, set, memoryChoice{limit: set, from: limitFromProgram}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := chooseMemoryLimit(tc.flag, tc.env, tc.current, derived)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("chooseMemoryLimit(%q) = %+v, want %+v", tc.flag, got, tc.want)
			}
		})
	}
	for _, bad := range []string{"lots", "-1", "0", "12 parsecs"} {
		_, err := chooseMemoryLimit(bad, none, noLimit, derived)
		var usage *cli.UsageError
		if !errors.As(err, &usage) || !strings.Contains(err.Error(), "--memory-limit") {
			t.Errorf("--memory-limit %q: error %v, want a usage error naming the flag", bad, err)
		}
	}
}

// Applying a choice sets the runtime's limit only when it is to be set,
// logs it with where it came from, and restore puts the previous back.
func TestApplyMemoryLimit(t *testing.T) {
	before := debug.SetMemoryLimit(-1)
	defer debug.SetMemoryLimit(before)
	for _, tc := range []struct {
		c    memoryChoice
		want int64
		logs []string
	}{
		{memoryChoice{limit: 3 << 30, from: limitFromFlag, set: true}, 3 << 30, []string{"limit=3072.0MiB", "bytes=3221225472", "from=--memory-limit"}},
		{memoryChoice{limit: before, from: limitFromEnv, ignored: "1GiB"}, before, []string{"--memory-limit is ignored", "memory_limit=1GiB", "from=GOMEMLIMIT"}},
		{memoryChoice{limit: noLimit, from: limitFromNone}, before, []string{"limit=none", "from=off"}},
	} {
		var out bytes.Buffer
		restore := applyMemoryLimit(tc.c, slog.New(slog.NewTextHandler(&out, nil)))
		if got := debug.SetMemoryLimit(-1); got != tc.want {
			t.Errorf("%+v: limit %d, want %d", tc.c, got, tc.want)
		}
		for _, l := range tc.logs {
			if !strings.Contains(out.String(), l) {
				t.Errorf("%+v: log %q lacks %q", tc.c, out.String(), l)
			}
		}
		restore()
		if got := debug.SetMemoryLimit(-1); got != before {
			t.Errorf("%+v: limit %d after restore, want %d", tc.c, got, before)
		}
	}
}
