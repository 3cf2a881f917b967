// Package ferret starts FerretDB for tests: a second MongoDB-compatible
// server, over the wire protocol on a loopback port, that the sink and the
// relational mapping are checked against besides lungo.
//
// FerretDB is not a dependency of this module: it runs from the module in
// internal/ferrettest (its own go.mod), which `go run` builds, so that
// users who import schemaflow do not inherit FerretDB's modules. The first
// start in a fresh build cache compiles FerretDB, which takes a minute or
// two; later ones reuse the cache.
package ferret

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/256dpi/lungo"
	"go.mongodb.org/mongo-driver/mongo/options"
)

// StartTimeout bounds the build and start of FerretDB.
const StartTimeout = 10 * time.Minute

// Client starts FerretDB (see URI) and returns a driver client connected
// to it, through lungo's adapter; it disconnects when the test ends.
func Client(t testing.TB) lungo.IClient {
	t.Helper()
	uri := URI(t)
	client, err := lungo.Connect(context.Background(), options.Client().ApplyURI(uri).SetTimeout(60*time.Second))
	if err != nil {
		t.Fatalf("ferret: connecting to %s: %v", uri, err)
	}
	t.Cleanup(func() { _ = client.Disconnect(context.Background()) })
	return client
}

// URI starts FerretDB on SQLite in a temporary directory and returns its
// mongodb:// URI. The server stops, and its data is removed, when the test
// ends. A failure to build or start it fails the test.
func URI(t testing.TB) string {
	t.Helper()
	dir, err := moduleDir()
	if err != nil {
		t.Fatalf("ferret: %v", err)
	}
	cmd := exec.Command(goTool(), "run", ".")
	cmd.Dir = dir
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr syncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("ferret: go run in %s: %v", dir, err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = stdin.Close() // the server stops when its input closes
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	})
	line := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		if sc.Scan() {
			line <- sc.Text()
		}
		close(line)
	}()
	select {
	case uri, ok := <-line:
		if !ok || !strings.HasPrefix(uri, "mongodb://") {
			<-exited
			t.Fatalf("ferret: FerretDB did not start (%q):\n%s", uri, stderr.String())
		}
		return uri
	case <-time.After(StartTimeout):
		t.Fatalf("ferret: FerretDB did not start within %s:\n%s", StartTimeout, stderr.String())
	}
	return ""
}

var (
	dirOnce sync.Once
	dirPath string
	dirErr  error
)

// moduleDir is internal/ferrettest of the main module the test runs in.
func moduleDir() (string, error) {
	dirOnce.Do(func() {
		out, err := exec.Command(goTool(), "env", "GOMOD").Output()
		if err != nil {
			dirErr = fmt.Errorf("go env GOMOD: %w", err)
			return
		}
		gomod := strings.TrimSpace(string(out))
		if gomod == "" || gomod == os.DevNull {
			dirErr = fmt.Errorf("not inside the schemaflow module")
			return
		}
		dirPath = filepath.Join(filepath.Dir(gomod), "internal", "ferrettest")
		if _, err := os.Stat(filepath.Join(dirPath, "go.mod")); err != nil {
			dirErr = err
		}
	})
	return dirPath, dirErr
}

// goTool is the go command of the toolchain running the tests.
func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return filepath.Join(os.Getenv("GOROOT"), "bin", "go")
}

// syncBuffer collects the server's standard error.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
