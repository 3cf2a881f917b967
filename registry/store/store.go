// Package store keeps the registry's log: the records a Confluent registry
// writes to its _schemas topic (a JSON key and a JSON value, or no value
// for a tombstone), in order. The registry's state is rebuilt by replaying
// them, so a backend only has to append and replay.
package store

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"syscall"
)

// Record is one log entry. A nil Value is a tombstone.
type Record struct {
	Key   json.RawMessage
	Value json.RawMessage
}

// Store is a registry log.
type Store interface {
	// Load calls fn with every record, in order. It is called once, before
	// any Append. A *Rejected error from fn skips the record; any other
	// error stops the load.
	Load(fn func(Record) error) error
	// Append adds records and returns once they are durable, or with an
	// error once ctx is done (the records may still be written then).
	Append(ctx context.Context, recs ...Record) error
	// Close releases the store.
	Close() error
}

// Rejected is what a log reader answers for a record that the log's rules
// refuse: one that would give an id to a second schema, a second id to a
// schema, or a taken version to another schema. Such a record changes
// nothing, whoever wrote it. Rollback, when set, is a record that restates
// what the log held for the rejected record's key, so that compaction, which
// keeps only the last record of a key, cannot bring the rejected one back.
type Rejected struct {
	Reason   string
	Rollback *Record
}

func (e *Rejected) Error() string { return "store: record rejected: " + e.Reason }

// Memory is a Store that lives in memory: what it holds is lost on exit.
type Memory struct {
	mu   sync.Mutex
	recs []Record
}

// NewMemory returns an empty in-memory store.
func NewMemory() *Memory { return &Memory{} }

// Load implements Store.
func (m *Memory) Load(fn func(Record) error) error {
	m.mu.Lock()
	recs := append([]Record(nil), m.recs...)
	m.mu.Unlock()
	for _, r := range recs {
		if err := fn(r); err != nil {
			return err
		}
	}
	return nil
}

// Append implements Store.
func (m *Memory) Append(_ context.Context, recs ...Record) error {
	m.mu.Lock()
	m.recs = append(m.recs, recs...)
	m.mu.Unlock()
	return nil
}

// Close implements Store.
func (m *Memory) Close() error { return nil }

// LogName is the file a File store keeps in its directory.
const LogName = "registry.log"

// File is a Store kept in a directory: an append-only log of JSON lines,
// fsynced before Append returns. A crash can only leave a partial last
// line, which was never acknowledged and which Load drops; nothing
// acknowledged is lost. An Append that fails without a crash (a full disk,
// a failed fsync) truncates the log back to the end of the last good
// record before it returns its error; if even that fails, the store
// refuses every later Append rather than write after a torn line. The
// directory is locked, so that two servers cannot write one log.
type File struct {
	mu   sync.Mutex
	f    *os.File
	w    logFile // f, or a stand-in that fails in tests
	lock *os.File
	size int64 // end of the last good record
	bad  error // set when a failed append could not be undone
}

// logFile is what Append needs of the log file.
type logFile interface {
	Write(b []byte) (int, error)
	Sync() error
	Truncate(size int64) error
	Seek(offset int64, whence int) (int64, error)
}

type line struct {
	Key   json.RawMessage `json:"key"`
	Value json.RawMessage `json:"value"`
}

// OpenFile opens (creating it if needed) the log in dir.
func OpenFile(dir string) (*File, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	lock, err := os.OpenFile(filepath.Join(dir, "LOCK"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		lock.Close()
		return nil, fmt.Errorf("store: %s is in use by another process: %w", dir, err)
	}
	f, err := os.OpenFile(filepath.Join(dir, LogName), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		lock.Close()
		return nil, fmt.Errorf("store: %w", err)
	}
	return &File{f: f, w: f, lock: lock}, nil
}

// Load implements Store. It truncates a partial last line left by a crash.
func (s *File) Load(fn func(Record) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.f.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	r := bufio.NewReaderSize(s.f, 1<<16)
	var good int64
	for n := 1; ; n++ {
		b, err := r.ReadBytes('\n')
		if err == io.EOF {
			if len(b) > 0 {
				// An unterminated last line: a write the crash cut short.
				if err := s.f.Truncate(good); err != nil {
					return fmt.Errorf("store: dropping a partial last record: %w", err)
				}
			}
			break
		}
		if err != nil {
			return fmt.Errorf("store: %w", err)
		}
		var l line
		if err := json.Unmarshal(b, &l); err != nil || len(l.Key) == 0 {
			return fmt.Errorf("store: %s line %d is corrupt", s.f.Name(), n)
		}
		if bytes.Equal(l.Value, []byte("null")) {
			l.Value = nil
		}
		if err := fn(Record(l)); err != nil {
			return fmt.Errorf("store: %s line %d: %w", s.f.Name(), n, err)
		}
		good += int64(len(b))
	}
	end, err := s.f.Seek(0, io.SeekEnd)
	s.size = end
	return err
}

// Append implements Store. The context is not used: a local write is not
// abandoned half way.
func (s *File) Append(_ context.Context, recs ...Record) error {
	var buf bytes.Buffer
	for _, r := range recs {
		value := r.Value
		if value == nil {
			value = json.RawMessage("null")
		}
		b, err := json.Marshal(line{Key: r.Key, Value: value})
		if err != nil {
			return fmt.Errorf("store: %w", err)
		}
		buf.Write(b)
		buf.WriteByte('\n')
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f == nil {
		return errors.New("store: closed")
	}
	if s.bad != nil {
		return s.bad
	}
	if _, err := s.w.Write(buf.Bytes()); err != nil {
		return s.undo(fmt.Errorf("store: writing %s: %w", s.f.Name(), err))
	}
	if err := s.w.Sync(); err != nil {
		return s.undo(fmt.Errorf("store: syncing %s: %w", s.f.Name(), err))
	}
	s.size += int64(buf.Len())
	return nil
}

// undo truncates the log back to its last good record after a failed
// append, and returns err. When the truncation fails too, the store is
// marked bad so that nothing is written after a torn record.
func (s *File) undo(err error) error {
	terr := s.w.Truncate(s.size)
	if terr == nil {
		_, terr = s.w.Seek(s.size, io.SeekStart)
	}
	if terr == nil {
		// Best effort: the file's content is whole either way, and a
		// failed sync has just been reported.
		_ = s.w.Sync()
	}
	if terr != nil {
		s.bad = fmt.Errorf("store: %s may end in a torn record (%v) and could not be truncated back to byte %d (%v); restart to repair it", s.f.Name(), err, s.size, terr)
		return s.bad
	}
	return err
}

// Close implements Store.
func (s *File) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f == nil {
		return nil
	}
	err := s.f.Close()
	s.f = nil
	s.lock.Close()
	return err
}
