package daemon

import (
	"context"
	"testing"

	"github.com/schemaflow/schemaflow/processor/config"
)

// The memory limit the pipelines call for is MemoryOverhead plus each
// one's max_inflight_bytes, the default for those that set none.
func TestMemoryLimit(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, tc := range []struct {
		name, pipelines string
		want            int64
	}{
		{"defaults", `
  - name: out
    mongodb: {collection: orders}
    source: {topic: orders}
  - name: in
    mongodb: {collection: copy}
    sink: {topics: [orders]}
`, MemoryOverhead + 2*config.DefaultMaxInflightBytes},
		{"set and default", `
  - name: out
    mongodb: {collection: orders}
    source: {topic: orders}
    max_inflight_bytes: 16MiB
  - name: in
    mongodb: {collection: copy}
    sink: {topics: [orders]}
    max_inflight_bytes: 512KiB
  - name: in2
    mongodb: {collection: copy2}
    sink: {topics: [orders]}
`, MemoryOverhead + 16<<20 + 512<<10 + config.DefaultMaxInflightBytes},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := New(context.Background(), e.specs(t, header+tc.pipelines), Options{Connections: e.conns})
			if err != nil {
				t.Fatal(err)
			}
			if got := d.MemoryLimit(); got != tc.want {
				t.Errorf("MemoryLimit() = %d, want %d", got, tc.want)
			}
		})
	}
}
