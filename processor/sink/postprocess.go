package sink

import (
	"fmt"
	"regexp"
	"strings"

	"go.mongodb.org/mongo-driver/bson"
)

// PostProcessor changes a value document before it is written.
type PostProcessor func(r Record, value bson.D) (bson.D, error)

// Projection keeps (Allow) or removes (Block) fields by path. A path is
// dotted; a segment "*" matches any one field, "prefix*" any field starting
// with prefix, and a final "**" a whole subtree ("**" alone: everything).
// Arrays of documents are projected element by element.
type Projection struct {
	Allow bool
	Paths []string
}

// Apply returns the projected document (d is not changed).
func (p Projection) Apply(d bson.D) bson.D {
	if len(p.Paths) == 0 {
		return d
	}
	pats := make([][]string, len(p.Paths))
	for i, s := range p.Paths {
		pats[i] = strings.Split(s, ".")
	}
	return project(d, nil, pats, p.Allow)
}

// segMatch matches one path segment against a pattern segment.
func segMatch(pat, seg string) bool {
	switch {
	case pat == "*" || pat == "**":
		return true
	case strings.HasSuffix(pat, "*"):
		return strings.HasPrefix(seg, strings.TrimSuffix(pat, "*"))
	}
	return pat == seg
}

// relation says how a path stands to a pattern: covered (the pattern names
// the path or a subtree holding it), or a prefix of what the pattern names.
func relation(pat, path []string) (covered, prefix bool) {
	for i, seg := range path {
		if i >= len(pat) {
			return false, false
		}
		if pat[i] == "**" {
			return true, false
		}
		if !segMatch(pat[i], seg) {
			return false, false
		}
	}
	if len(pat) == len(path) || (len(pat) == len(path)+1 && pat[len(path)] == "**") {
		return true, false
	}
	return false, true
}

func project(d bson.D, path []string, pats [][]string, allow bool) bson.D {
	out := make(bson.D, 0, len(d))
	for _, e := range d {
		p := append(append([]string(nil), path...), e.Key)
		covered, prefix := false, false
		for _, pat := range pats {
			c, pre := relation(pat, p)
			covered, prefix = covered || c, prefix || pre
		}
		switch {
		case allow && covered, !allow && !covered && !prefix:
			out = append(out, e)
		case prefix:
			// Listed paths lie below this field: project inside it.
			switch v := e.Value.(type) {
			case bson.D:
				out = append(out, bson.E{Key: e.Key, Value: project(v, p, pats, allow)})
			case bson.A:
				arr := make(bson.A, len(v))
				for i, el := range v {
					if sub, ok := el.(bson.D); ok {
						arr[i] = project(sub, p, pats, allow)
					} else {
						arr[i] = el
					}
				}
				out = append(out, bson.E{Key: e.Key, Value: arr})
			default:
				if !allow {
					out = append(out, e)
				}
			}
		}
	}
	return out
}

// Project returns a post processor applying the projection to values.
func Project(p Projection) PostProcessor {
	return func(_ Record, v bson.D) (bson.D, error) {
		id, hasID := get(v, "_id")
		out := p.Apply(v)
		if _, kept := get(out, "_id"); hasID && !kept {
			out = append(bson.D{{Key: "_id", Value: id}}, out...) // the id is never projected away
		}
		return out, nil
	}
}

// Rename is an exact-path rename: the field at path Old gets the name New
// (in the same document). A rename onto an existing field is skipped.
type Rename struct {
	Old, New string
}

// RenameByMapping returns a post processor that applies renames.
func RenameByMapping(renames []Rename) PostProcessor {
	return func(_ Record, v bson.D) (bson.D, error) {
		for _, rn := range renames {
			v = renameAt(v, strings.Split(rn.Old, "."), rn.New)
		}
		return v, nil
	}
}

func renameAt(d bson.D, path []string, newName string) bson.D {
	if len(path) == 1 {
		if _, exists := get(d, newName); exists {
			return d
		}
		for i, e := range d {
			if e.Key == path[0] {
				d[i].Key = newName
			}
		}
		return d
	}
	for i, e := range d {
		if e.Key == path[0] {
			if sub, ok := e.Value.(bson.D); ok {
				d[i].Value = renameAt(sub, path[1:], newName)
			}
		}
	}
	return d
}

// RegexpRename renames every field whose full dotted path matches Match:
// Pattern in the field's name is replaced by Replace.
type RegexpRename struct {
	Match   *regexp.Regexp
	Pattern *regexp.Regexp
	Replace string
}

// RenameByRegexp returns a post processor applying regex renames at every
// depth.
func RenameByRegexp(renames []RegexpRename) PostProcessor {
	return func(_ Record, v bson.D) (bson.D, error) {
		return renameRegexp(v, "", renames), nil
	}
}

func renameRegexp(d bson.D, prefix string, renames []RegexpRename) bson.D {
	for i, e := range d {
		full := prefix + e.Key
		for _, rn := range renames {
			if rn.Match.MatchString(full) {
				d[i].Key = rn.Pattern.ReplaceAllString(d[i].Key, rn.Replace)
			}
		}
		if sub, ok := e.Value.(bson.D); ok {
			d[i].Value = renameRegexp(sub, full+".", renames)
		}
	}
	return d
}

// AddKafkaMetadata adds "topic-partition-offset" and "CREATE_TIME" (the
// record timestamp in ms), as the connector's KafkaMetaAdder does.
func AddKafkaMetadata(r Record, v bson.D) (bson.D, error) {
	v = set(v, "topic-partition-offset", fmt.Sprintf("%s-%d-%d", r.Topic, r.Partition, r.Offset))
	if !r.Timestamp.IsZero() {
		v = set(v, "CREATE_TIME", r.Timestamp.UnixMilli())
	}
	return v, nil
}

// RemoveNulls removes null fields at every depth; nulls inside arrays are
// kept.
func RemoveNulls(_ Record, v bson.D) (bson.D, error) { return removeNulls(v), nil }

func removeNulls(d bson.D) bson.D {
	out := make(bson.D, 0, len(d))
	for _, e := range d {
		switch v := e.Value.(type) {
		case nil:
			continue
		case bson.D:
			e.Value = removeNulls(v)
		}
		out = append(out, e)
	}
	return out
}
