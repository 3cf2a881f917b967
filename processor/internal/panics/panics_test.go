package panics

import (
	"errors"
	"strings"
	"testing"
)

func fails(record ...any) (err error) {
	defer Recover(&err, record...)
	set(nil, "x") // a runtime panic
	return nil
}

func set(m map[string]int, k string) { m[k] = 1 }

// A recovered panic becomes an *Error naming the record, with the value,
// the panicking stack, and the runtime error to unwrap.
func TestRecover(t *testing.T) {
	err := fails("topic", "orders", "partition", int32(0), "offset", int64(3))
	var pe *Error
	if !errors.As(err, &pe) {
		t.Fatalf("got %T %v, want *Error", err, err)
	}
	if want := "panic: assignment to entry in nil map (topic orders, partition 0, offset 3)"; err.Error() != want {
		t.Errorf("message %q, want %q", err.Error(), want)
	}
	if !strings.Contains(string(pe.Stack), "panics.fails") {
		t.Errorf("the stack does not show the panicking function:\n%s", pe.Stack)
	}
	var re interface{ RuntimeError() }
	if !errors.As(err, &re) {
		t.Error("the runtime error is not unwrapped")
	}
	args := pe.LogArgs()
	if len(args) != 10 || args[0] != "topic" || args[6] != "panic" || args[8] != "stack" {
		t.Errorf("log args %v", args[:8])
	}
	if got := pe.WithRecord("namespace", "x").Record; len(got) != 6 {
		t.Errorf("WithRecord replaced a known record: %v", got)
	}
	if got := New("boom").WithRecord("namespace", "shop.orders").Error(); got != "panic: boom (namespace shop.orders)" {
		t.Errorf("WithRecord: %q", got)
	}
	if err := fails(); err.Error() != "panic: assignment to entry in nil map" {
		t.Errorf("no record: %q", err.Error())
	}
}
