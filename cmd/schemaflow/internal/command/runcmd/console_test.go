package runcmd

import (
	"fmt"
	"testing"

	"github.com/schemaflow/schemaflow/processor/spec"
)

// The topics a source writes that the console can name up front.
func TestSourceTopics(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		p    spec.Pipeline
		want []string
	}{
		{"topic", spec.Pipeline{Source: &spec.Source{Topic: "orders", TopicPrefix: "ignored"}}, []string{"orders"}},
		{"topic map, wrapped and sorted", spec.Pipeline{Source: &spec.Source{TopicMap: map[string]string{"shop.b": "b", "shop.a": "a"}, TopicPrefix: "pre", TopicSuffix: "v1"}},
			[]string{"pre.a.v1", "pre.b.v1"}},
		{"the collection's name", spec.Pipeline{MongoDB: spec.MongoDB{Database: "shop", Collection: "orders"}, Source: &spec.Source{TopicPrefix: "cdc"}}, []string{"cdc.shop.orders"}},
		{"a whole database", spec.Pipeline{MongoDB: spec.MongoDB{Database: "shop"}, Source: &spec.Source{}}, nil},
	}
	for _, tc := range tests {
		if got := sourceTopics(tc.p); fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}
