package wire

import (
	"bytes"
	"errors"
	"slices"
	"testing"
)

func TestHeaderRoundTrip(t *testing.T) {
	t.Parallel()
	for _, id := range []uint32{0, 1, 255, 256, 1 << 24, 0xffffffff} {
		frame := AppendHeader(nil, id)
		frame = append(frame, 'x')
		got, rest, err := ParseHeader(frame)
		if err != nil || got != id || string(rest) != "x" {
			t.Fatalf("id %d: got %d %q %v", id, got, rest, err)
		}
	}
	if got := AppendHeader(nil, 0x01020304); !bytes.Equal(got, []byte{0, 1, 2, 3, 4}) {
		t.Fatalf("header bytes % x", got)
	}
}

func TestParseHeaderErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		frame []byte
		want  Reason
	}{
		{"empty", nil, ShortFrame},
		{"four bytes", []byte{0, 0, 0, 1}, ShortFrame},
		{"magic 1", []byte{1, 0, 0, 0, 1}, BadMagic},
		{"magic ff", []byte{0xff, 0, 0, 0, 1, 9}, BadMagic},
	}
	for _, tt := range tests {
		_, _, err := ParseHeader(tt.frame)
		var fe *FrameError
		if !errors.As(err, &fe) || fe.Reason != tt.want {
			t.Errorf("%s: got %v, want %s", tt.name, err, tt.want)
		}
		if !errors.Is(err, &FrameError{Reason: tt.want}) {
			t.Errorf("%s: errors.Is failed for %v", tt.name, err)
		}
	}
}

// The worked bytes come from Confluent's MessageIndexes writer.
func TestIndexesBytes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		indexes []int
		bytes   []byte
	}{
		{[]int{0}, []byte{0x00}},
		{nil, []byte{0x00}},
		{[]int{1}, []byte{0x02, 0x02}},
		{[]int{0, 2}, []byte{0x04, 0x00, 0x04}},
		{[]int{2, 1}, []byte{0x04, 0x04, 0x02}},
		{[]int{64}, []byte{0x02, 0x80, 0x01}},
	}
	for _, tt := range tests {
		got := AppendIndexes(nil, tt.indexes)
		if !bytes.Equal(got, tt.bytes) {
			t.Errorf("%v: got % x, want % x", tt.indexes, got, tt.bytes)
		}
		ix, rest, err := ParseIndexes(append(got, 0xAA))
		want := tt.indexes
		if len(want) == 0 {
			want = []int{0}
		}
		if err != nil || !slices.Equal(ix, want) || !bytes.Equal(rest, []byte{0xAA}) {
			t.Errorf("%v: parsed %v rest % x err %v", tt.indexes, ix, rest, err)
		}
	}
	// A non-optimised [0] (count 1, index 0) decodes to [0] as Confluent's reader does.
	ix, _, err := ParseIndexes([]byte{0x02, 0x00})
	if err != nil || !slices.Equal(ix, []int{0}) {
		t.Fatalf("02 00: %v %v", ix, err)
	}
}

func TestParseIndexesErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		payload []byte
		want    Reason
	}{
		{"empty", nil, BadVarint},
		{"truncated count", []byte{0x80}, BadVarint},
		{"truncated index", []byte{0x04, 0x02}, BadVarint},
		{"negative count", []byte{0x01}, BadIndexCount},
		{"huge count", []byte{0x80, 0x04}, BadIndexCount},
		{"negative index", []byte{0x02, 0x03}, IndexOutOfRange},
		{"varint too long", []byte{0x02, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01}, BadVarint},
		{"overflow", []byte{0x02, 0xff, 0xff, 0xff, 0xff, 0x7f}, BadVarint},
	}
	for _, tt := range tests {
		_, _, err := ParseIndexes(tt.payload)
		if !errors.Is(err, &FrameError{Reason: tt.want}) {
			t.Errorf("%s: got %v, want %s", tt.name, err, tt.want)
		}
	}
}

func FuzzParseHeader(f *testing.F) {
	f.Add([]byte{0, 0, 0, 0, 1})
	f.Add([]byte{1, 0, 0, 0, 1, 2})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, frame []byte) {
		id, rest, err := ParseHeader(frame)
		if err != nil {
			var fe *FrameError
			if !errors.As(err, &fe) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		again := append(AppendHeader(nil, id), rest...)
		if !bytes.Equal(again, frame) {
			t.Fatalf("re-encoding differs: % x vs % x", again, frame)
		}
	})
}

func FuzzParseIndexes(f *testing.F) {
	f.Add([]byte{0})
	f.Add([]byte{0x04, 0x00, 0x04})
	f.Add([]byte{0x02, 0x80, 0x01})
	f.Add([]byte{0x80, 0x80, 0x80, 0x80, 0x80})
	f.Fuzz(func(t *testing.T, payload []byte) {
		ix, rest, err := ParseIndexes(payload)
		if err != nil {
			var fe *FrameError
			if !errors.As(err, &fe) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		// Whatever was read must re-parse to the same indexes.
		again, rest2, err := ParseIndexes(append(AppendIndexes(nil, ix), rest...))
		if err != nil || !slices.Equal(again, ix) || !bytes.Equal(rest2, rest) {
			t.Fatalf("re-parse of %v: %v %v", ix, again, err)
		}
	})
}
