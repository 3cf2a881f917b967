package console

import (
	"fmt"
	"html/template"
	"strings"
	"testing"
)

func TestHighlight(t *testing.T) {
	t.Parallel()
	tests := []struct {
		typ, line string
		want      template.HTML
	}{
		{"AVRO", `  "name": "total",`, `  <span class="k">&#34;name&#34;</span>: <span class="s">&#34;total&#34;</span>,`},
		{"AVRO", `  "default": null, "size": -12.5e3, "x": true`, `  <span class="k">&#34;default&#34;</span>: <span class="n">null</span>, <span class="k">&#34;size&#34;</span>: <span class="n">-12.5e3</span>, <span class="k">&#34;x&#34;</span>: <span class="n">true</span>`},
		{"AVRO", `"doc": "a \"quoted\" <b>"`, `<span class="k">&#34;doc&#34;</span>: <span class="s">&#34;a \&#34;quoted\&#34; &lt;b&gt;&#34;</span>`},
		{"AVRO", `"unterminated`, `<span class="s">&#34;unterminated</span>`},
		{"PROTOBUF", `  repeated string tags = 3; // the tags`, `  <span class="k">repeated</span> <span class="k">string</span> tags = <span class="n">3</span>; <span class="c">// the tags</span>`},
		{"PROTOBUF", `import "shop/<x>.proto";`, `<span class="k">import</span> <span class="s">&#34;shop/&lt;x&gt;.proto&#34;</span>;`},
		{"PROTOBUF", `  shop.Item item = 1;`, `  shop.Item item = <span class="n">1</span>;`},
	}
	for _, tc := range tests {
		if got := highlight(tc.typ, tc.line)[0]; got != tc.want {
			t.Errorf("%s %q:\n got %s\nwant %s", tc.typ, tc.line, got, tc.want)
		}
	}
}

func TestLineDiff(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		left, right string
		want        string // op:leftNo:rightNo per row
	}{
		{"same", "a\nb", "a\nb", "same:1:1 same:2:2"},
		{"added", "a\nc", "a\nb\nc", "same:1:1 add:0:2 same:2:3"},
		{"removed", "a\nb\nc", "a\nc", "same:1:1 del:2:0 same:3:2"},
		{"changed", "a\nb\nc", "a\nB\nc", "same:1:1 change:2:2 same:3:3"},
		{"changed and added", "x\ny", "X\nY\nZ", "change:1:1 change:2:2 add:0:3"},
		{"empty left", "", "a", "change:1:1"},
	}
	for _, tc := range tests {
		l, r := strings.Split(tc.left, "\n"), strings.Split(tc.right, "\n")
		rows := lineDiff(l, r, highlight("AVRO", tc.left), highlight("AVRO", tc.right))
		var got []string
		for _, row := range rows {
			got = append(got, fmt.Sprintf("%s:%d:%d", row.Op, row.LeftNo, row.RightNo))
		}
		if strings.Join(got, " ") != tc.want {
			t.Errorf("%s: %s, want %s", tc.name, strings.Join(got, " "), tc.want)
		}
	}
}

// The highlighters never panic, and what they output is escaped: the
// only markup is their spans.
func FuzzHighlight(f *testing.F) {
	f.Add(`{"type":"record","name":"R","fields":[{"name":"a","type":"int","default":-1}]}`)
	f.Add("message M { // <c>\n  map<string, int64> m = 1; 'x\\'' \"\\\" }")
	f.Add(`"\`)
	f.Fuzz(func(t *testing.T, text string) {
		for _, typ := range []string{"AVRO", "PROTOBUF"} {
			for _, line := range highlight(typ, text) {
				s := string(line)
				for _, tag := range []string{`<span class="k">`, `<span class="s">`, `<span class="n">`, `<span class="c">`, `</span>`} {
					s = strings.ReplaceAll(s, tag, "")
				}
				if strings.ContainsAny(s, "<>") {
					t.Fatalf("%s %q: unescaped markup in %q", typ, text, line)
				}
			}
		}
	})
}
