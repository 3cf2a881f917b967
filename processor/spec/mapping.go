package spec

import (
	"fmt"
	"strings"

	"go.mongodb.org/mongo-driver/bson"
	"gopkg.in/yaml.v3"

	"github.com/schemaflow/schemaflow/processor/relmap"
)

// Mapping maps the tables of a sink with cdc debezium-rdbms to
// collections, embedded arrays and embedded documents, after MongoDB
// Relational Migrator's mapping rules.
type Mapping struct {
	// Tables are the rules by table, named by topic or by the topic's
	// suffix ("public.orders" for "pg.public.orders").
	Tables map[string]*MappedTable `yaml:"tables"`
}

// MappedTable is the rules of one table.
type MappedTable struct {
	// Collection makes each row a document of this collection of the
	// pipeline's database, _id from the primary key.
	Collection string `yaml:"collection"`
	// Rename renames columns: a list of {from, to}.
	Rename Renames `yaml:"rename"`
	// Include keeps only these columns; Exclude drops them. Not both.
	Include []string `yaml:"include"`
	Exclude []string `yaml:"exclude"`
	// Nulls is keep (default: a null column is a null field) or omit.
	Nulls string `yaml:"nulls"`
	// Types gives columns a BSON type: string, int, long, double,
	// decimal, bool, date, date-micros, date-days or objectId.
	Types map[string]string `yaml:"types"`
	// Filter is a MongoDB query on the row's columns; rows it does not
	// match are treated as absent.
	Filter yaml.Node `yaml:"filter" json:"-"`
	// EmbedArray embeds the rows in their parent's documents.
	EmbedArray *EmbedArray `yaml:"embed_array"`
	// EmbedDocument copies the row into the documents referencing it.
	EmbedDocument *EmbedDocument `yaml:"embed_document"`
}

// EmbedArray embeds a child table's rows as an array of its parent's
// documents.
type EmbedArray struct {
	// Into is the parent table.
	Into string `yaml:"into"`
	// Field is the array's field.
	Field string `yaml:"field"`
	// On maps this table's foreign-key columns to the parent's key
	// columns, in key order: {order_id: id}.
	On ColumnPairs `yaml:"on"`
	// Sort orders the elements: {line_no: 1} ascending, -1 descending;
	// ties by the child's key.
	Sort SortOrder `yaml:"sort"`
}

// EmbedDocument copies a referenced row into the referencing table's
// documents.
type EmbedDocument struct {
	// Into is the referencing table.
	Into string `yaml:"into"`
	// Field is the copy's field.
	Field string `yaml:"field"`
	// On maps this table's columns to the referencing columns:
	// {id: customer_id}.
	On ColumnPairs `yaml:"on"`
}

// ColumnPair joins a column of this table to one of the other.
type ColumnPair struct {
	Column string `yaml:"column"`
	Other  string `yaml:"other"`
}

// ColumnPairs are written as a mapping {column: other}, read in order.
type ColumnPairs []ColumnPair

// UnmarshalYAML reads the mapping in document order.
func (c *ColumnPairs) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.MappingNode {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: want a mapping {this_column: other_column}", n.Line)}}
	}
	out := ColumnPairs{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		var other string
		if err := n.Content[i+1].Decode(&other); err != nil {
			return err
		}
		out = append(out, ColumnPair{Column: n.Content[i].Value, Other: other})
	}
	*c = out
	return nil
}

// SortField is one sort key of an array.
type SortField struct {
	Field string `yaml:"field"`
	Desc  bool   `yaml:"desc"`
}

// SortOrder is written as a mapping {field: 1 | -1}, read in order.
type SortOrder []SortField

// UnmarshalYAML reads the mapping in document order.
func (s *SortOrder) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.MappingNode {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: want a mapping {field: 1 or -1}", n.Line)}}
	}
	out := SortOrder{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		var dir int
		if err := n.Content[i+1].Decode(&dir); err != nil || (dir != 1 && dir != -1) {
			return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: sort %q: want 1 (ascending) or -1 (descending)", n.Content[i+1].Line, n.Content[i].Value)}}
		}
		out = append(out, SortField{Field: n.Content[i].Value, Desc: dir == -1})
	}
	*s = out
	return nil
}

// Config is the mapping as relmap takes it.
func (m *Mapping) Config() (relmap.Config, error) {
	cfg := relmap.Config{Tables: map[string]relmap.Table{}}
	for name, t := range m.Tables {
		if t == nil {
			t = &MappedTable{}
		}
		rt := relmap.Table{Collection: t.Collection, Include: t.Include, Exclude: t.Exclude, OmitNulls: t.Nulls == "omit"}
		for _, r := range t.Rename {
			rt.Rename = append(rt.Rename, relmap.Rename{From: r.From, To: r.To})
		}
		for col, ty := range t.Types {
			if rt.Types == nil {
				rt.Types = map[string]relmap.FieldType{}
			}
			rt.Types[col] = relmap.FieldType(ty)
		}
		if t.Filter.Kind != 0 {
			v, err := BSONValue(&t.Filter)
			if err != nil {
				return cfg, fmt.Errorf("tables.%s.filter: %w", name, err)
			}
			d, ok := v.(bson.D)
			if !ok {
				return cfg, fmt.Errorf("tables.%s.filter: line %d: want a mapping (a MongoDB query)", name, t.Filter.Line)
			}
			rt.Filter = d
		}
		join := func(pairs ColumnPairs) []relmap.Join {
			out := make([]relmap.Join, 0, len(pairs))
			for _, p := range pairs {
				out = append(out, relmap.Join{Column: p.Column, Other: p.Other})
			}
			return out
		}
		if a := t.EmbedArray; a != nil {
			rt.Array = &relmap.Array{Into: a.Into, Field: a.Field, On: join(a.On)}
			for _, s := range a.Sort {
				rt.Array.Sort = append(rt.Array.Sort, relmap.SortKey{Field: s.Field, Desc: s.Desc})
			}
		}
		if d := t.EmbedDocument; d != nil {
			rt.Document = &relmap.Document{Into: d.Into, Field: d.Field, On: join(d.On)}
		}
		cfg.Tables[name] = rt
	}
	return cfg, nil
}

// BSONValue turns a YAML value of a spec (a filter, an aggregation stage)
// into a BSON value, key order kept; Extended JSON forms such as
// {$date: ...} in documents are understood.
func BSONValue(n *yaml.Node) (any, error) {
	var conv func(n *yaml.Node) (any, error)
	conv = func(n *yaml.Node) (any, error) {
		switch n.Kind {
		case yaml.MappingNode:
			d := bson.D{}
			for i := 0; i+1 < len(n.Content); i += 2 {
				v, err := conv(n.Content[i+1])
				if err != nil {
					return nil, err
				}
				d = append(d, bson.E{Key: n.Content[i].Value, Value: v})
			}
			return d, nil
		case yaml.SequenceNode:
			a := bson.A{}
			for _, c := range n.Content {
				v, err := conv(c)
				if err != nil {
					return nil, err
				}
				a = append(a, v)
			}
			return a, nil
		case yaml.ScalarNode:
			var v any
			if err := n.Decode(&v); err != nil {
				return nil, fmt.Errorf("line %d: %w", n.Line, err)
			}
			if i, ok := v.(int); ok {
				return int64(i), nil
			}
			return v, nil
		case yaml.AliasNode:
			return conv(n.Alias)
		}
		return nil, fmt.Errorf("line %d: unsupported YAML node", n.Line)
	}
	v, err := conv(n)
	if err != nil {
		return nil, err
	}
	d, ok := v.(bson.D)
	if !ok {
		return v, nil
	}
	text, err := bson.MarshalExtJSON(d, false, false)
	if err == nil {
		err = bson.UnmarshalExtJSON(text, false, &d)
	}
	return d, err
}

// mapping checks a sink's mapping block.
func (pc *pipelineChecker) mapping(s *Sink) {
	m := s.Mapping
	if m == nil {
		return
	}
	if s.CDC != "debezium-rdbms" {
		pc.bad(p("sink", "mapping"), "a mapping maps relational tables: it needs cdc: debezium-rdbms")
		return
	}
	if s.NamespaceField != "" || len(s.TopicNamespaces) > 0 {
		pc.bad(p("sink", "mapping"), "the mapping names the collections: namespace_field and topic_namespaces are not used with it")
	}
	if s.Ordered != nil && !*s.Ordered {
		pc.bad(p("sink", "ordered"), "a mapping writes each document's changes in order: ordered must stay true")
	}
	for name, t := range m.Tables {
		if t != nil {
			pc.oneOf(p("sink", "mapping", "tables", name, "nulls"), t.Nulls, "keep", "omit")
		}
	}
	cfg, err := m.Config()
	if err != nil {
		pc.bad(p("sink", "mapping"), "%v", err)
		return
	}
	for _, prob := range cfg.Check(s.Topics) {
		// The line is the deepest part of the path the spec has.
		pc.bad(append(p("sink", "mapping"), prob.Path...), "%s", strings.TrimSpace(prob.Msg))
	}
}
