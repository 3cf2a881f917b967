package config

import (
	"errors"
	"testing"
	"time"
)

// Problems render one per line as "Field: message", nest under a parent
// field, and are found by errors.As.
func TestProblems(t *testing.T) {
	var ps Problems
	ps.Add("MaxBatch", "must not be negative")
	CheckEnum(&ps, "Tolerance", Tolerance("some"), Tolerances)
	CheckEnum(&ps, "Tolerance", Tolerance(""), Tolerances) // unset: no problem
	CheckEnum(&ps, "Tolerance", ToleranceAll, Tolerances)
	var nested Problems
	nested.Add("Parallelism", "must not be negative")
	ps.Nest("CopyExisting", nested.Err())
	ps.Nest("Snapshots", errors.New("plain error"))
	ps.Nest("Nothing", nil)
	want := "MaxBatch: must not be negative\n" +
		`Tolerance: "some": want none or all` + "\n" +
		"CopyExisting.Parallelism: must not be negative\n" +
		"Snapshots: plain error"
	if got := ps.Err().Error(); got != want {
		t.Fatalf("got:\n%s\nwant:\n%s", got, want)
	}
	var one *Problem
	if !errors.As(ps.Err(), &one) || one.Field != "MaxBatch" {
		t.Fatalf("errors.As found %+v", one)
	}
	if (Problems{}).Err() != nil {
		t.Fatal("no problems is not nil")
	}
}

func TestWant(t *testing.T) {
	for _, tc := range []struct {
		got, want string
	}{
		{Want(Compressions), "none, gzip, snappy, lz4 or zstd"},
		{Want(SASLMechanisms), "PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512"},
		{Want([]OnFailure{OnFailureExit}), "exit"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}

// Every listed compression has a codec; unset and unknown names keep
// franz-go's default.
func TestCompressionCodec(t *testing.T) {
	for _, c := range Compressions {
		if c.Codec() == nil {
			t.Errorf("%s: no codec", c)
		}
	}
	if Compression("").Codec() != nil || Compression("brotli").Codec() != nil {
		t.Error("a codec for an unset or unknown compression")
	}
}

func TestRestart(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   Restart
		want Restart
		err  string
	}{
		{"defaults", Restart{}, Restart{OnFailure: OnFailureRestart, Backoff: time.Second, MaxBackoff: time.Minute}, ""},
		{"a backoff longer than the default cap", Restart{Backoff: 2 * time.Minute}, Restart{OnFailure: OnFailureRestart, Backoff: 2 * time.Minute, MaxBackoff: 2 * time.Minute}, ""},
		{"every problem", Restart{OnFailure: "retry", Backoff: time.Minute, MaxBackoff: time.Second}, Restart{OnFailure: "retry", Backoff: time.Minute, MaxBackoff: time.Second},
			"OnFailure: \"retry\": want restart, stop or exit\nMaxBackoff: is shorter than backoff"},
		{"negative", Restart{OnFailure: OnFailureStop, Backoff: -1, MaxBackoff: -1}, Restart{OnFailure: OnFailureStop, Backoff: -1, MaxBackoff: -1},
			"Backoff: must not be negative\nMaxBackoff: must not be negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.in
			r.EnsureDefaults()
			if r != tc.want {
				t.Fatalf("EnsureDefaults: %+v, want %+v", r, tc.want)
			}
			err := r.Validate()
			if got := ""; err != nil {
				got = err.Error()
				if got != tc.err {
					t.Fatalf("Validate: %q, want %q", got, tc.err)
				}
			} else if tc.err != "" {
				t.Fatalf("Validate: nil, want %q", tc.err)
			}
		})
	}
}
