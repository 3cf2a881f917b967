package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// failing is a log file whose next write, sync or truncate fails; a
// failing write first writes the start of the first record it was given,
// like a full disk.
type failing struct {
	*os.File
	write, sync, truncate bool
}

var errInjected = errors.New("injected failure")

func (f *failing) Write(b []byte) (int, error) {
	if f.write {
		n, _ := f.File.Write(b[:10])
		return n, errInjected
	}
	return f.File.Write(b)
}

func (f *failing) Sync() error {
	if f.sync {
		return errInjected
	}
	return f.File.Sync()
}

func (f *failing) Truncate(size int64) error {
	if f.truncate {
		return errInjected
	}
	return f.File.Truncate(size)
}

func rec(i int) Record {
	return Record{Key: json.RawMessage(fmt.Sprintf(`{"keytype":"NOOP","n":%d}`, i)), Value: json.RawMessage(fmt.Sprintf(`{"n":%d}`, i))}
}

func keys(t *testing.T, dir string) []string {
	t.Helper()
	s, err := OpenFile(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var out []string
	if err := s.Load(func(r Record) error { out = append(out, string(r.Key)); return nil }); err != nil {
		t.Fatalf("load after the failure: %v", err)
	}
	return out
}

// TestFileAppendFailure: an append that fails without a crash (a torn
// write, a failed fsync) truncates the log back to its last good record,
// so that the next append and the next start find a whole log; when even
// the truncation fails, every later append is refused, and the next start
// drops the torn tail.
func TestFileAppendFailure(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name                  string
		write, sync, truncate bool
		wantBad               bool
	}{
		{name: "torn write", write: true},
		{name: "failed sync", sync: true},
		{name: "torn write, truncate fails", write: true, truncate: true, wantBad: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			s, err := OpenFile(dir)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Load(func(Record) error { return nil }); err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			if err := s.Append(ctx, rec(1), rec(2)); err != nil {
				t.Fatal(err)
			}
			f := &failing{File: s.f, write: tc.write, sync: tc.sync, truncate: tc.truncate}
			s.w = f
			err = s.Append(ctx, rec(3), rec(4))
			if !errors.Is(err, errInjected) && !strings.Contains(fmt.Sprint(err), errInjected.Error()) {
				t.Fatalf("append error %v, want the injected failure", err)
			}
			f.write, f.sync, f.truncate = false, false, false
			err = s.Append(ctx, rec(5))
			if tc.wantBad {
				if err == nil || !strings.Contains(err.Error(), "could not be truncated") {
					t.Fatalf("append after an unrepaired failure: %v", err)
				}
			} else if err != nil {
				t.Fatalf("append after a repaired failure: %v", err)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			want := []string{string(rec(1).Key), string(rec(2).Key), string(rec(5).Key)}
			if tc.wantBad {
				want = want[:2]
			}
			if got := keys(t, dir); strings.Join(got, "|") != strings.Join(want, "|") {
				t.Fatalf("log after the failure holds %v, want %v", got, want)
			}
			b, err := os.ReadFile(filepath.Join(dir, LogName))
			if err != nil {
				t.Fatal(err)
			}
			if n := strings.Count(string(b), "\n"); n != len(want) || !strings.HasSuffix(string(b), "\n") {
				t.Fatalf("log file has %d lines, want %d whole ones: %q", n, len(want), b)
			}
		})
	}
}
