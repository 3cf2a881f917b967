package console

import (
	"bytes"
	"encoding/json"
	"html"
	"html/template"
	"strings"
)

// pretty lays a schema out for reading: JSON (Avro, JSON Schema) indented
// by two spaces, Protobuf as registered.
func pretty(schemaType, text string) string {
	if schemaType == "PROTOBUF" {
		return strings.TrimRight(text, "\n")
	}
	var buf bytes.Buffer
	if err := json.Indent(&buf, []byte(text), "", "  "); err != nil {
		return text
	}
	return buf.String()
}

// highlight renders each line of a schema as HTML, its tokens in spans
// of classes k (keyword or key), s (string), n (number or literal), c
// (comment). Everything else is escaped as it is.
func highlight(schemaType, text string) []template.HTML {
	lines := strings.Split(text, "\n")
	out := make([]template.HTML, len(lines))
	for i, l := range lines {
		if schemaType == "PROTOBUF" {
			out[i] = highlightProto(l)
		} else {
			out[i] = highlightJSON(l)
		}
	}
	return out
}

func span(b *strings.Builder, class, text string) {
	b.WriteString(`<span class="`)
	b.WriteString(class)
	b.WriteString(`">`)
	b.WriteString(html.EscapeString(text))
	b.WriteString(`</span>`)
}

// highlightJSON marks a line of indented JSON: keys, strings, numbers
// and literals.
func highlightJSON(line string) template.HTML {
	var b strings.Builder
	for i := 0; i < len(line); {
		ch := line[i]
		switch {
		case ch == '"':
			j := i + 1
			for j < len(line) && line[j] != '"' {
				if line[j] == '\\' {
					j++
				}
				j++
			}
			j = min(j+1, len(line))
			class := "s"
			if strings.HasPrefix(strings.TrimLeft(line[j:], " "), ":") {
				class = "k"
			}
			span(&b, class, line[i:j])
			i = j
		case ch == '-' || ch >= '0' && ch <= '9':
			j := i + 1
			for j < len(line) && strings.IndexByte("0123456789.eE+-", line[j]) >= 0 {
				j++
			}
			span(&b, "n", line[i:j])
			i = j
		case strings.HasPrefix(line[i:], "true") || strings.HasPrefix(line[i:], "null"):
			span(&b, "n", line[i:i+4])
			i += 4
		case strings.HasPrefix(line[i:], "false"):
			span(&b, "n", line[i:i+5])
			i += 5
		default:
			b.WriteString(html.EscapeString(line[i : i+1]))
			i++
		}
	}
	return template.HTML(b.String())
}

var protoKeywords = map[string]bool{
	"syntax": true, "edition": true, "package": true, "import": true, "public": true, "weak": true, "option": true,
	"message": true, "enum": true, "oneof": true, "map": true, "repeated": true, "optional": true, "required": true,
	"reserved": true, "extensions": true, "extend": true, "service": true, "rpc": true, "returns": true, "stream": true, "to": true, "max": true,
	"double": true, "float": true, "int32": true, "int64": true, "uint32": true, "uint64": true, "sint32": true, "sint64": true,
	"fixed32": true, "fixed64": true, "sfixed32": true, "sfixed64": true, "bool": true, "string": true, "bytes": true,
}

// highlightProto marks a line of .proto text: keywords and scalar types,
// strings, numbers and // comments.
func highlightProto(line string) template.HTML {
	var b strings.Builder
	for i := 0; i < len(line); {
		ch := line[i]
		switch {
		case strings.HasPrefix(line[i:], "//"):
			span(&b, "c", line[i:])
			i = len(line)
		case ch == '"' || ch == '\'':
			j := i + 1
			for j < len(line) && line[j] != ch {
				if line[j] == '\\' {
					j++
				}
				j++
			}
			j = min(j+1, len(line))
			span(&b, "s", line[i:j])
			i = j
		case ch >= '0' && ch <= '9':
			j := i + 1
			for j < len(line) && (line[j] >= '0' && line[j] <= '9' || line[j] == '.' || line[j] == 'x') {
				j++
			}
			span(&b, "n", line[i:j])
			i = j
		case ch == '_' || ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z':
			j := i + 1
			for j < len(line) && (line[j] == '_' || line[j] == '.' || line[j] >= 'a' && line[j] <= 'z' || line[j] >= 'A' && line[j] <= 'Z' || line[j] >= '0' && line[j] <= '9') {
				j++
			}
			if w := line[i:j]; protoKeywords[w] {
				span(&b, "k", w)
			} else {
				b.WriteString(html.EscapeString(w))
			}
			i = j
		default:
			b.WriteString(html.EscapeString(line[i : i+1]))
			i++
		}
	}
	return template.HTML(b.String())
}

// diffRow is one row of a side-by-side diff: Op is "same", "del" (only
// on the left), "add" (only on the right) or "change" (both, differing).
type diffRow struct {
	Op              string
	LeftNo, RightNo int // 1-based; 0 for none
	Left, Right     template.HTML
}

// maxDiffLines bounds the line diff's table (lines per side); longer
// schemas are compared as wholes.
const maxDiffLines = 3000

// lineDiff aligns two texts' lines by their longest common subsequence.
// Runs of deleted lines followed by added ones pair up as changes.
func lineDiff(left, right []string, hl, hr []template.HTML) []diffRow {
	n, m := len(left), len(right)
	if n > maxDiffLines || m > maxDiffLines {
		rows := make([]diffRow, 0, n+m)
		for i := range left {
			rows = append(rows, diffRow{Op: "del", LeftNo: i + 1, Left: hl[i]})
		}
		for j := range right {
			rows = append(rows, diffRow{Op: "add", RightNo: j + 1, Right: hr[j]})
		}
		return rows
	}
	// lcs[i][j] is the LCS length of left[i:] and right[j:].
	lcs := make([][]int32, n+1)
	for i := range lcs {
		lcs[i] = make([]int32, m+1)
	}
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if left[i] == right[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var rows []diffRow
	var dels, adds []diffRow
	flush := func() {
		k := 0
		for ; k < len(dels) && k < len(adds); k++ {
			rows = append(rows, diffRow{Op: "change", LeftNo: dels[k].LeftNo, Left: dels[k].Left, RightNo: adds[k].RightNo, Right: adds[k].Right})
		}
		rows = append(rows, dels[k:]...)
		rows = append(rows, adds[k:]...)
		dels, adds = dels[:0], adds[:0]
	}
	i, j := 0, 0
	for i < n || j < m {
		switch {
		case i < n && j < m && left[i] == right[j]:
			flush()
			rows = append(rows, diffRow{Op: "same", LeftNo: i + 1, RightNo: j + 1, Left: hl[i], Right: hr[j]})
			i++
			j++
		case j < m && (i == n || lcs[i][j+1] >= lcs[i+1][j]):
			adds = append(adds, diffRow{Op: "add", RightNo: j + 1, Right: hr[j]})
			j++
		default:
			dels = append(dels, diffRow{Op: "del", LeftNo: i + 1, Left: hl[i]})
			i++
		}
	}
	flush()
	return rows
}
