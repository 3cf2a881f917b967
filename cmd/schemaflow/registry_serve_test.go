package main

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/schemaflow/schemaflow/registry/store"
)

// TestRegistryServeSignals runs `schemaflow registry serve` in a child
// process with each engine, holds a keep-alive connection open, and stops
// it with SIGTERM or SIGINT: it exits 0 well within its 10s shutdown
// deadline, having closed the idle connection, with its file store
// written.
func TestRegistryServeSignals(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		args   []string
		engine string // in the listening line
		signal syscall.Signal
	}{
		{"default engine, SIGTERM", nil, "fasthttp", syscall.SIGTERM},
		{"default engine, SIGINT", nil, "fasthttp", syscall.SIGINT},
		{"net engine, SIGTERM", []string{"--http-engine", "net"}, "net", syscall.SIGTERM},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			data := filepath.Join(t.TempDir(), "data")
			args := append([]string{"registry", "serve", "--listen", "127.0.0.1:0", "--store", "file:" + data}, tc.args...)
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), "SCHEMAFLOW_AS_MAIN=1", "SCHEMAFLOW_ARGS="+strings.Join(args, " "),
				"GORACE="+strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
			stdout, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			var stderr syncBuffer
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = cmd.Process.Kill() })
			out := bufio.NewReader(stdout)
			line, err := out.ReadString('\n')
			if err != nil {
				t.Fatalf("no listening line: %v; stderr:\n%s", err, stderr.String())
			}
			go func() { _, _ = io.Copy(io.Discard, out) }()
			if !strings.Contains(line, "(store file:"+data+", http engine "+tc.engine+")") {
				t.Fatalf("listening line %q does not name engine %s", line, tc.engine)
			}
			url := strings.Fields(strings.TrimPrefix(line, "registry listening on "))[0]

			resp, err := http.Post(url+"/subjects/s/versions", "application/vnd.schemaregistry.v1+json", strings.NewReader(`{"schema":"\"string\""}`))
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || string(body) != `{"id":1}`+"\n" {
				t.Fatalf("register: %d %s", resp.StatusCode, body)
			}
			// A keep-alive connection, idle when the signal comes.
			conn, err := net.Dial("tcp", strings.TrimPrefix(url, "http://"))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			br := bufio.NewReader(conn)
			var answers [][]byte
			for range 2 {
				if _, err := io.WriteString(conn, "GET /schemas/ids/1 HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
					t.Fatal(err)
				}
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 || resp.Close {
					t.Fatalf("by id: %d close=%v %s", resp.StatusCode, resp.Close, b)
				}
				answers = append(answers, b)
			}
			if !bytes.Equal(answers[0], answers[1]) || !bytes.Contains(answers[0], []byte(`"schema":"\"string\""`)) {
				t.Fatalf("by id: %s then %s", answers[0], answers[1])
			}

			if err := cmd.Process.Signal(tc.signal); err != nil {
				t.Fatal(err)
			}
			signalled := time.Now()
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			select {
			case err := <-done:
				var exit *exec.ExitError
				if errors.As(err, &exit) || err != nil {
					t.Fatalf("exited with %v after %v; stderr:\n%s", err, tc.signal, stderr.String())
				}
			case <-time.After(20 * time.Second):
				t.Fatalf("no exit within 20s of %v (shutdown deadline 10s); stderr:\n%s", tc.signal, stderr.String())
			}
			took := time.Since(signalled)
			// The idle connection does not hold the shutdown to its
			// deadline.
			if took > 5*time.Second {
				t.Errorf("exited %s after %v, want well within the 10s deadline", took, tc.signal)
			}
			if _, err := br.ReadByte(); err == nil {
				t.Error("the idle connection is still open after the exit")
			}
			if _, err := os.Stat(filepath.Join(data, store.LogName)); err != nil {
				t.Fatal(err)
			}
			t.Logf("exit 0 %s after %v", took.Round(time.Millisecond), tc.signal)
		})
	}
}
