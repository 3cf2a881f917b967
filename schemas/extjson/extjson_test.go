package extjson

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/bson"
)

type item struct {
	line int
	json string
}

func readAll(t *testing.T, in string) ([]item, error) {
	t.Helper()
	var got []item
	err := Read(strings.NewReader(in), "in.json", func(doc bson.Raw, line int) error {
		c, err := Canonical(doc)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, item{line, string(c)})
		return nil
	})
	return got, err
}

func TestRead(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want []item
	}{
		{"lines", "{\"a\":1}\n\n{\"a\":{\"$numberLong\":\"2\"}}\n", []item{{1, `{"a":{"$numberInt":"1"}}`}, {3, `{"a":{"$numberLong":"2"}}`}}},
		{"crlf and leading blank", "\r\n  {\"a\":true}\r\n", []item{{2, `{"a":true}`}}},
		{"array", "[\n {\"a\":1},\n\n {\"b\":\"x\"}\n]\n", []item{{2, `{"a":{"$numberInt":"1"}}`}, {4, `{"b":"x"}`}}},
		{"empty array", "[]", nil},
		{"empty", "   \n", nil},
	}
	for _, tt := range tests {
		got, err := readAll(t, tt.in)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if len(got) != len(tt.want) {
			t.Fatalf("%s: got %v, want %v", tt.name, got, tt.want)
		}
		for i := range got {
			if got[i] != tt.want[i] {
				t.Errorf("%s[%d]: got %v, want %v", tt.name, i, got[i], tt.want[i])
			}
		}
	}
}

func TestReadErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"bad line", "{\"a\":1}\n{\"a\":}\n", "in.json:2: invalid Extended JSON"},
		{"not object", "{\"a\":1}\n42\n", "in.json:2: not a JSON object"},
		{"bad ext type", "{\"a\":{\"$numberLong\":\"x\"}}", "in.json:1: invalid Extended JSON"},
		{"array element", "[\n{\"a\":1},\n7\n]", "in.json:3: not a JSON object"},
		{"unterminated array", "[\n{\"a\":1},\n", "in.json:"},
		{"trailing data", "[{\"a\":1}] x", "in.json:1: unexpected data after"},
	}
	for _, tt := range tests {
		_, err := readAll(t, tt.in)
		var e *Error
		if !errors.As(err, &e) || !strings.HasPrefix(err.Error(), tt.want) {
			t.Errorf("%s: got %v, want prefix %q", tt.name, err, tt.want)
		}
	}
}

func TestReadCallbackError(t *testing.T) {
	t.Parallel()
	sentinel := errors.New("stop")
	err := Read(strings.NewReader("{}\n{}\n"), "x", func(bson.Raw, int) error { return sentinel })
	if err != sentinel {
		t.Fatalf("got %v", err)
	}
}

func FuzzRead(f *testing.F) {
	f.Add([]byte("{\"a\":1}\n{\"b\":{\"$numberLong\":\"2\"}}\n"))
	f.Add([]byte("[{\"a\":1},\n{\"b\":[1,2]}]"))
	f.Add([]byte("[{\"a\":"))
	f.Fuzz(func(t *testing.T, in []byte) {
		lastLine := 0
		err := Read(bytes.NewReader(in), "f", func(doc bson.Raw, line int) error {
			if line < lastLine {
				t.Fatalf("line numbers go back: %d after %d", line, lastLine)
			}
			lastLine = line
			if _, err := Canonical(doc); err != nil {
				t.Fatalf("parsed document does not print: %v", err)
			}
			return nil
		})
		var e *Error
		if err != nil && !errors.As(err, &e) {
			t.Fatalf("untyped error %v", err)
		}
	})
}
