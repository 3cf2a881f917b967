package evolution

import (
	"bytes"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/bufbuild/protocompile/ast"
	"github.com/bufbuild/protocompile/parser"
	"github.com/bufbuild/protocompile/reporter"

	"github.com/schemaflow/schemaflow/schemas/protobuf"
)

// editProto returns the latest version's text edited so that it declares
// the merged model: new fields, oneofs and nested messages are inserted
// before the closing brace of the message (or oneof) that gains them, new
// top-level messages at the end, new imports after the last import; a
// field that changes (a wider type, a json_name, a move into a oneof) is
// edited token by token. Everything else, comments, options, reserved
// statements, services and layout included, is left as written.
func editProto(src []byte, model *pmFile, oldImports []string) ([]byte, error) {
	file, err := parser.Parse("latest.proto", bytes.NewReader(src), reporter.NewHandler(nil))
	if err != nil {
		return nil, fmt.Errorf("evolution: parse the latest version: %w", err)
	}
	e := &protoEditor{src: src, file: file, msgs: map[string]*ast.MessageNode{}, fields: map[string]*ast.FieldNode{}, oneofs: map[string]*ast.OneofNode{}}
	e.index()
	for _, m := range model.messages {
		if m.old {
			if err := e.message(m); err != nil {
				return nil, err
			}
		}
	}
	e.imports(model.imports, oldImports)
	var tail bytes.Buffer
	for _, m := range model.messages {
		if !m.old {
			tail.WriteByte('\n')
			m.render(&tail, "")
		}
	}
	if tail.Len() > 0 {
		if len(src) > 0 && src[len(src)-1] != '\n' {
			e.insert(len(src), "\n")
		}
		e.insert(len(src), tail.String())
	}
	return e.apply()
}

type protoEditor struct {
	src    []byte
	file   *ast.FileNode
	msgs   map[string]*ast.MessageNode // by full name
	fields map[string]*ast.FieldNode   // by message full name and number
	oneofs map[string]*ast.OneofNode   // by message full name and oneof name
	edits  []textEdit
}

type textEdit struct {
	start, end int
	text       string
}

func fieldKey(msg string, number int) string { return msg + "#" + strconv.Itoa(number) }

// index finds the AST node of every message, field and oneof.
func (e *protoEditor) index() {
	pkg := ""
	for _, d := range e.file.Decls {
		if p, ok := d.(*ast.PackageNode); ok {
			pkg = string(p.Name.AsIdentifier())
		}
	}
	var walk func(m *ast.MessageNode, full string)
	walk = func(m *ast.MessageNode, full string) {
		e.msgs[full] = m
		for _, d := range m.Decls {
			switch d := d.(type) {
			case *ast.FieldNode:
				e.fields[fieldKey(full, int(d.Tag.Val))] = d
			case *ast.OneofNode:
				e.oneofs[full+"/"+string(d.Name.AsIdentifier())] = d
				for _, od := range d.Decls {
					if f, ok := od.(*ast.FieldNode); ok {
						e.fields[fieldKey(full, int(f.Tag.Val))] = f
					}
				}
			case *ast.MessageNode:
				walk(d, full+"."+string(d.Name.AsIdentifier()))
			}
		}
	}
	for _, d := range e.file.Decls {
		if m, ok := d.(*ast.MessageNode); ok {
			name := string(m.Name.AsIdentifier())
			if pkg != "" {
				name = pkg + "." + name
			}
			walk(m, name)
		}
	}
}

func (e *protoEditor) start(n ast.Node) int { return e.file.NodeInfo(n).Start().Offset }

// end is the offset after a node. (NodeInfo.End's offset is that of the
// node's last byte; only its column is past it.)
func (e *protoEditor) end(n ast.Node) int { return e.file.NodeInfo(n).End().Offset + 1 }

func (e *protoEditor) insert(at int, text string) {
	e.edits = append(e.edits, textEdit{start: at, end: at, text: text})
}

func (e *protoEditor) replace(n ast.Node, text string) {
	e.edits = append(e.edits, textEdit{start: e.start(n), end: e.end(n), text: text})
}

// indentOf returns the blanks that start the line holding offset at.
func (e *protoEditor) indentOf(at int) string {
	ls := bytes.LastIndexByte(e.src[:at], '\n') + 1
	i := ls
	for i < at && (e.src[i] == ' ' || e.src[i] == '\t') {
		i++
	}
	return string(e.src[ls:i])
}

// endOfLine returns the offset after the line holding offset at, when the
// rest of that line is blank or a // comment (a trailing comment stays with
// its statement); else at.
func (e *protoEditor) endOfLine(at int) int {
	rest := e.src[at:]
	nl := bytes.IndexByte(rest, '\n')
	if nl < 0 {
		nl = len(rest)
	}
	line := strings.TrimSpace(string(rest[:nl]))
	if line == "" || strings.HasPrefix(line, "//") {
		if at+nl < len(e.src) {
			return at + nl + 1
		}
		return at + nl
	}
	return at
}

// lines renders declarations, one a line, indented.
func lines(indent string, decls []string) string {
	var b strings.Builder
	for _, d := range decls {
		for _, l := range strings.Split(strings.TrimSuffix(d, "\n"), "\n") {
			if l == "" {
				b.WriteByte('\n')
				continue
			}
			b.WriteString(indent + l + "\n")
		}
	}
	return b.String()
}

// beforeClose inserts declarations before a closing brace: on lines of
// their own, indented one level deeper than the block's first line.
func (e *protoEditor) beforeClose(block ast.Node, closeBrace ast.Node, decls []string) {
	if len(decls) == 0 {
		return
	}
	base := e.indentOf(e.start(block))
	cb := e.start(closeBrace)
	ls := bytes.LastIndexByte(e.src[:cb], '\n') + 1
	if strings.TrimSpace(string(e.src[ls:cb])) == "" && ls > e.start(block) {
		e.insert(ls, lines(base+"  ", decls))
		return
	}
	e.insert(cb, "\n"+lines(base+"  ", decls)+base)
}

func renderOneof(o *pmOneof) string {
	var b strings.Builder
	fmt.Fprintf(&b, "oneof %s {\n", o.name)
	for _, f := range o.fields {
		b.WriteString("  " + f.line() + "\n")
	}
	b.WriteString("}\n")
	return b.String()
}

// message edits the declaration of a message of the latest version.
func (e *protoEditor) message(m *pmMsg) error {
	node := e.msgs[m.full]
	if node == nil {
		return fmt.Errorf("evolution: message %s of the latest version is not in its text", m.full)
	}
	var tail []string
	for i, it := range m.items {
		switch {
		case it.field != nil && it.field.was != nil:
			if err := e.field(m, it.field); err != nil {
				return err
			}
		case it.field != nil:
			tail = e.place(m, i, it.field.line(), tail)
		case it.oneof.old:
			on := e.oneofs[m.full+"/"+it.oneof.name]
			if on == nil {
				return fmt.Errorf("evolution: oneof %s of %s is not in the latest version's text", it.oneof.name, m.full)
			}
			var added []string
			for _, f := range it.oneof.fields {
				if f.was != nil {
					if err := e.field(m, f); err != nil {
						return err
					}
					continue
				}
				added = append(added, f.line())
			}
			e.beforeClose(on, on.CloseBrace, added)
		case it.oneof.fields[0].was != nil:
			// A field of the latest version moved into a new oneof: the oneof
			// is written around it, and its other members after it.
			first := it.oneof.fields[0]
			if err := e.field(m, first); err != nil {
				return err
			}
			fn := e.fields[fieldKey(m.full, first.number)]
			indent := e.indentOf(e.start(fn))
			e.insert(e.start(fn), "oneof "+it.oneof.name+" {\n"+indent+"  ")
			var rest []string
			for _, f := range it.oneof.fields[1:] {
				if f.was != nil {
					return fmt.Errorf("evolution: field %s of %s would move into a new oneof", f.name, m.full)
				}
				rest = append(rest, f.line())
			}
			at := e.endOfLine(e.end(fn))
			text := lines(indent+"  ", rest) + indent + "}\n"
			if at == e.end(fn) {
				text = "\n" + text + indent
			}
			e.insert(at, text)
		default:
			tail = e.place(m, i, renderOneof(it.oneof), tail)
		}
	}
	// New fields go after the last field, new messages at the end.
	var last ast.Node
	for _, d := range node.Decls {
		switch d.(type) {
		case *ast.FieldNode, *ast.OneofNode, *ast.MapFieldNode, *ast.GroupNode:
			last = d
		}
	}
	if last != nil && len(tail) > 0 {
		indent := e.indentOf(e.start(last))
		at := e.endOfLine(e.end(last))
		text := lines(indent, tail)
		if at == e.end(last) {
			text = "\n" + text + indent
		}
		e.insert(at, text)
		tail = nil
	}
	for _, n := range m.nested {
		if n.old {
			if err := e.message(n); err != nil {
				return err
			}
			continue
		}
		var b bytes.Buffer
		n.render(&b, "")
		tail = append(tail, "\n"+b.String())
	}
	e.beforeClose(node, node.CloseBrace, tail)
	return nil
}

// place puts a new item of m: right after the item before it when a field
// of the latest version comes later (a __more oneof beside its repeated
// field), else among the declarations added at the end.
func (e *protoEditor) place(m *pmMsg, i int, decl string, tail []string) []string {
	laterOld := slices.ContainsFunc(m.items[i+1:], func(it *pmItem) bool {
		return it.field != nil && it.field.was != nil || it.oneof != nil && (it.oneof.old || it.oneof.fields[0].was != nil)
	})
	if !laterOld || i == 0 || m.items[i-1].field == nil || m.items[i-1].field.was == nil {
		return append(tail, decl)
	}
	fn := e.fields[fieldKey(m.full, m.items[i-1].field.number)]
	if fn == nil {
		return append(tail, decl)
	}
	indent := e.indentOf(e.start(fn))
	at := e.endOfLine(e.end(fn))
	text := lines(indent, []string{decl})
	if at == e.end(fn) {
		text = "\n" + text + indent
	}
	e.insert(at, text)
	return tail
}

// field edits the declaration of a field of the latest version where the
// model changed it: its label, type, name or json_name.
func (e *protoEditor) field(m *pmMsg, f *pmField) error {
	w := f.was
	if f.label == w.label && f.typ == w.typ && f.name == w.name && f.jsonName == w.jsonName {
		return nil
	}
	fn := e.fields[fieldKey(m.full, w.number)]
	if fn == nil {
		return fmt.Errorf("evolution: field %s of %s is not in the latest version's text", w.name, m.full)
	}
	if f.label != w.label {
		switch {
		case fn.Label.KeywordNode != nil && f.label == "":
			e.edits = append(e.edits, textEdit{start: e.start(fn.Label.KeywordNode), end: e.start(fn.FldType)})
		case fn.Label.KeywordNode != nil:
			e.replace(fn.Label.KeywordNode, f.label)
		default:
			e.insert(e.start(fn.FldType), f.label+" ")
		}
	}
	if f.typ != w.typ {
		e.replace(fn.FldType, f.typ)
	}
	if f.name != w.name {
		e.replace(fn.Name, f.name)
	}
	if f.jsonName != w.jsonName || f.name != w.name && w.jsonName != "" {
		j := f.jsonName
		if j == "" {
			j = protobuf.DefaultJSONName(f.name)
		}
		quoted := strconv.Quote(j)
		switch {
		case fn.Options == nil:
			e.insert(e.end(fn.Tag), " [json_name = "+quoted+"]")
		default:
			var jn *ast.OptionNode
			for _, o := range fn.Options.Options {
				if len(o.Name.Parts) == 1 && o.Name.Parts[0].Open == nil && string(o.Name.Parts[0].Name.AsIdentifier()) == "json_name" {
					jn = o
				}
			}
			if jn != nil {
				e.replace(jn.Val, quoted)
			} else {
				e.insert(e.end(fn.Options.OpenBracket), "json_name = "+quoted+", ")
			}
		}
	}
	return nil
}

// imports inserts the imports the model gained after the last import, or
// after the package (else syntax) statement.
func (e *protoEditor) imports(all, old []string) {
	var added []string
	for _, imp := range all {
		if !slices.Contains(old, imp) {
			added = append(added, fmt.Sprintf("import %q;\n", imp))
		}
	}
	if len(added) == 0 {
		return
	}
	var after ast.Node
	isImport := false
	for _, d := range e.file.Decls {
		switch d := d.(type) {
		case *ast.ImportNode:
			after, isImport = d, true
		case *ast.PackageNode:
			if !isImport {
				after = d
			}
		}
	}
	if after == nil && e.file.Syntax != nil {
		after = e.file.Syntax
	}
	text := strings.Join(added, "")
	if !isImport {
		text = "\n" + text
	}
	if after == nil {
		e.insert(0, text+"\n")
		return
	}
	at := e.endOfLine(e.end(after))
	if at == e.end(after) {
		text = "\n" + text
	}
	e.insert(at, text)
}

// apply returns the source with the edits made. Edits at one offset keep
// the order they were made in; overlapping edits are a bug.
func (e *protoEditor) apply() ([]byte, error) {
	sort.SliceStable(e.edits, func(i, j int) bool {
		a, b := e.edits[i], e.edits[j]
		if a.start != b.start {
			return a.start < b.start
		}
		return a.end-a.start < b.end-b.start // insertions before replacements
	})
	var out bytes.Buffer
	pos := 0
	for _, ed := range e.edits {
		if ed.start < pos {
			return nil, fmt.Errorf("evolution: overlapping edits of the latest version at offset %d", ed.start)
		}
		out.Write(e.src[pos:ed.start])
		out.WriteString(ed.text)
		pos = ed.end
	}
	out.Write(e.src[pos:])
	return out.Bytes(), nil
}
