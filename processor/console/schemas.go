package console

import (
	"context"
	"fmt"
	"html/template"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/schemaflow/schemaflow/evolution"
	"github.com/schemaflow/schemaflow/registry"
	"github.com/schemaflow/schemaflow/schemas"
)

func (c *Console) schemaRoutes() {
	c.mux.HandleFunc("GET "+Path+"schemas", c.subjectsPage)
	c.mux.HandleFunc("GET "+Path+"schemas/{subject}", c.subjectPage)
	c.mux.HandleFunc("GET "+Path+"schemas/{subject}/versions/{version}", c.versionPage)
	c.mux.HandleFunc("GET "+Path+"schemas/{subject}/diff", c.diffPage)
	c.mux.HandleFunc("GET "+Path+"api/subjects", c.subjectsAPI)
	c.mux.HandleFunc("GET "+Path+"api/subjects/{subject}", c.subjectAPI)
	c.mux.HandleFunc("GET "+Path+"api/subjects/{subject}/versions/{version}", c.versionAPI)
	c.mux.HandleFunc("GET "+Path+"api/subjects/{subject}/diff", c.diffAPI)
}

// subjects lists the registry's subjects containing q (case-insensitive),
// sorted.
func (c *Console) subjects(ctx context.Context, q string) ([]string, error) {
	all, err := c.opts.Registry.Subjects(ctx, false)
	if err != nil {
		return nil, fmt.Errorf("listing subjects: %w", err)
	}
	q = strings.ToLower(strings.TrimSpace(q))
	out := []string{}
	for _, s := range all {
		if q == "" || strings.Contains(strings.ToLower(s), q) {
			out = append(out, s)
		}
	}
	slices.Sort(out)
	return out, nil
}

// cachedSubjects is the subject list, read at most once a second: the
// pipelines page asks for it at every update.
func (c *Console) cachedSubjects(ctx context.Context) ([]string, error) {
	c.subjectsMu.Lock()
	defer c.subjectsMu.Unlock()
	if time.Since(c.subjectsAt) < time.Second {
		return c.subjectsCache, nil
	}
	s, err := c.subjects(ctx, "")
	if err != nil {
		return nil, err
	}
	c.subjectsCache, c.subjectsAt = s, time.Now()
	return s, nil
}

type subjectsView struct {
	Query    string   `json:"query"`
	Subjects []string `json:"subjects"`
}

func (c *Console) subjectsData(r *http.Request) (subjectsView, error) {
	ctx, cancel := c.call(r)
	defer cancel()
	q := r.URL.Query().Get("q")
	s, err := c.subjects(ctx, q)
	return subjectsView{Query: q, Subjects: s}, err
}

func (c *Console) subjectsPage(w http.ResponseWriter, r *http.Request) {
	v, err := c.subjectsData(r)
	if err != nil {
		c.renderError(w, r, "schemas", err)
		return
	}
	c.render(w, r, "subjects.html", "Schemas", "schemas", v)
}

func (c *Console) subjectsAPI(w http.ResponseWriter, r *http.Request) {
	v, err := c.subjectsData(r)
	if err != nil {
		c.renderError(w, r, "schemas", err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

// versionInfo is one version of a subject as the pages list it.
type versionInfo struct {
	Version    int                  `json:"version"`
	ID         int                  `json:"id"`
	Type       string               `json:"schemaType"`
	References []registry.Reference `json:"references,omitempty"`
}

type subjectView struct {
	Subject       string        `json:"subject"`
	Compatibility string        `json:"compatibility"`
	Mode          string        `json:"mode"`
	Versions      []versionInfo `json:"versions"`
}

func schemaType(t string) string {
	if n, ok := registry.NormalizeType(t); ok {
		return n
	}
	return t
}

func (c *Console) subjectData(r *http.Request) (subjectView, error) {
	ctx, cancel := c.call(r)
	defer cancel()
	subject := r.PathValue("subject")
	v := subjectView{Subject: subject}
	versions, err := c.opts.Registry.Versions(ctx, subject, false)
	if err != nil {
		return v, fmt.Errorf("subject %s: %w", subject, err)
	}
	for _, n := range versions {
		s, err := c.opts.Registry.Version(ctx, subject, n, false)
		if err != nil {
			return v, fmt.Errorf("subject %s version %d: %w", subject, n, err)
		}
		v.Versions = append(v.Versions, versionInfo{Version: n, ID: s.ID, Type: schemaType(s.SchemaType), References: s.References})
	}
	cfg, err := c.opts.Registry.Config(ctx, subject, true)
	if err != nil {
		return v, fmt.Errorf("subject %s: compatibility: %w", subject, err)
	}
	v.Compatibility = cfg.CompatibilityLevel
	if v.Mode, err = c.opts.Registry.Mode(ctx, subject, true); err != nil {
		return v, fmt.Errorf("subject %s: mode: %w", subject, err)
	}
	return v, nil
}

func (c *Console) subjectPage(w http.ResponseWriter, r *http.Request) {
	v, err := c.subjectData(r)
	if err != nil {
		c.renderError(w, r, "schemas", err)
		return
	}
	c.render(w, r, "subject.html", v.Subject, "schemas", v)
}

func (c *Console) subjectAPI(w http.ResponseWriter, r *http.Request) {
	v, err := c.subjectData(r)
	if err != nil {
		c.renderError(w, r, "schemas", err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

type versionView struct {
	Subject string `json:"subject"`
	versionInfo
	Schema string `json:"schema"`
	// Lines is the schema laid out and highlighted.
	Lines    []template.HTML `json:"-"`
	Versions []int           `json:"versions"`
}

// version reads "latest" or a version number of the request's subject.
func (c *Console) version(ctx context.Context, subject, version string) (registry.Schema, error) {
	n := -1
	if version != "latest" {
		v, err := strconv.Atoi(version)
		if err != nil || v <= 0 {
			return registry.Schema{}, badRequest("version %q: want a positive number or latest", version)
		}
		n = v
	}
	s, err := c.opts.Registry.Version(ctx, subject, n, false)
	if err != nil {
		return s, fmt.Errorf("subject %s version %s: %w", subject, version, err)
	}
	return s, nil
}

func (c *Console) versionData(r *http.Request) (versionView, error) {
	ctx, cancel := c.call(r)
	defer cancel()
	subject := r.PathValue("subject")
	s, err := c.version(ctx, subject, r.PathValue("version"))
	if err != nil {
		return versionView{}, err
	}
	versions, err := c.opts.Registry.Versions(ctx, subject, false)
	if err != nil {
		return versionView{}, fmt.Errorf("subject %s: %w", subject, err)
	}
	t := schemaType(s.SchemaType)
	text := pretty(t, s.Schema)
	return versionView{Subject: subject, versionInfo: versionInfo{Version: s.Version, ID: s.ID, Type: t, References: s.References},
		Schema: s.Schema, Lines: highlight(t, text), Versions: versions}, nil
}

func (c *Console) versionPage(w http.ResponseWriter, r *http.Request) {
	v, err := c.versionData(r)
	if err != nil {
		c.renderError(w, r, "schemas", err)
		return
	}
	c.render(w, r, "version.html", fmt.Sprintf("%s v%d", v.Subject, v.Version), "schemas", v)
}

func (c *Console) versionAPI(w http.ResponseWriter, r *http.Request) {
	v, err := c.versionData(r)
	if err != nil {
		c.renderError(w, r, "schemas", err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

// levels are the seven compatibility levels, in the order the diff shows
// them.
var levels = []evolution.Level{evolution.None, evolution.Backward, evolution.BackwardTransitive,
	evolution.Forward, evolution.ForwardTransitive, evolution.Full, evolution.FullTransitive}

// verdict is whether the newer version may follow the older at a level.
type verdict struct {
	Level      string   `json:"level"`
	Compatible bool     `json:"compatible"`
	Messages   []string `json:"messages,omitempty"`
	// Current marks the subject's configured level.
	Current bool `json:"current,omitempty"`
}

type diffView struct {
	Subject  string             `json:"subject"`
	From     versionInfo        `json:"from"`
	To       versionInfo        `json:"to"`
	Versions []int              `json:"versions"`
	Level    string             `json:"compatibility"`
	Changes  []evolution.Change `json:"changes"`
	// ChangesError says why no field-level changes could be listed
	// (schemas of different types, JSON Schema).
	ChangesError string    `json:"changesError,omitempty"`
	Verdicts     []verdict `json:"verdicts"`
	// Against lists the versions the transitive levels compare with.
	Against []int     `json:"against"`
	Rows    []diffRow `json:"-"`
	// Command is the schemaflow compat command that gives the same
	// verdicts, with the versions saved as files.
	Command string `json:"command"`
}

// evolutionSchema turns a registered version into what evolution checks,
// with its references' schemas as dependencies.
func (c *Console) evolutionSchema(ctx context.Context, subject string, s registry.Schema) (evolution.Schema, error) {
	format := map[string]schemas.Format{registry.TypeAvro: schemas.Avro, registry.TypeProtobuf: schemas.Protobuf, registry.TypeJSON: schemas.JSON}[schemaType(s.SchemaType)]
	es := evolution.Schema{Format: format, Text: []byte(s.Schema), Name: "version " + strconv.Itoa(s.Version)}
	if format == schemas.Protobuf {
		es.Name = fmt.Sprintf("%s-v%d.proto", strings.NewReplacer("/", "_", " ", "_").Replace(subject), s.Version)
	}
	if len(s.References) > 0 {
		es.Dependencies = map[string]string{}
		es.References = map[string]evolution.Reference{}
		for _, ref := range s.References {
			dep, err := c.opts.Registry.Version(ctx, ref.Subject, ref.Version, true)
			if err != nil {
				return es, fmt.Errorf("version %d: reference %q: %w", s.Version, ref.Name, err)
			}
			es.Dependencies[ref.Name] = dep.Schema
			es.References[ref.Name] = evolution.Reference{Subject: ref.Subject, Version: ref.Version}
		}
	}
	return es, nil
}

// label names a version in verdict messages, as compat names its files.
func label(es evolution.Schema) string {
	if i := strings.LastIndex(es.Name, "-v"); i >= 0 && strings.HasSuffix(es.Name, ".proto") {
		return "version " + strings.TrimSuffix(es.Name[i+2:], ".proto")
	}
	return es.Name
}

func (c *Console) diffData(r *http.Request) (diffView, error) {
	ctx, cancel := c.call(r)
	defer cancel()
	subject := r.PathValue("subject")
	v := diffView{Subject: subject, Changes: []evolution.Change{}}
	versions, err := c.opts.Registry.Versions(ctx, subject, false)
	if err != nil {
		return v, fmt.Errorf("subject %s: %w", subject, err)
	}
	v.Versions = versions
	q := r.URL.Query()
	pick := func(name string, def int) (int, error) {
		s := q.Get(name)
		if s == "" {
			return def, nil
		}
		if s == "latest" {
			return versions[len(versions)-1], nil
		}
		n, err := strconv.Atoi(s)
		if err != nil || !slices.Contains(versions, n) {
			return 0, notFound("subject %s has no version %q (it has %v)", subject, s, versions)
		}
		return n, nil
	}
	latest := versions[len(versions)-1]
	to, err := pick("to", latest)
	if err != nil {
		return v, err
	}
	prev := versions[0]
	for _, n := range versions {
		if n < to {
			prev = n
		}
	}
	from, err := pick("from", prev)
	if err != nil {
		return v, err
	}
	// The history the transitive levels compare with: every version up
	// to from, oldest first.
	var history []evolution.Schema
	var olds, news evolution.Schema
	var oldReg, newReg registry.Schema
	for _, n := range versions {
		if n > from && n != to {
			continue
		}
		s, err := c.opts.Registry.Version(ctx, subject, n, false)
		if err != nil {
			return v, fmt.Errorf("subject %s version %d: %w", subject, n, err)
		}
		es, err := c.evolutionSchema(ctx, subject, s)
		if err != nil {
			return v, fmt.Errorf("subject %s: %w", subject, err)
		}
		if n <= from {
			history = append(history, es)
			v.Against = append(v.Against, n)
		}
		if n == from {
			olds, oldReg = es, s
		}
		if n == to {
			news, newReg = es, s
		}
	}
	v.From = versionInfo{Version: from, ID: oldReg.ID, Type: schemaType(oldReg.SchemaType), References: oldReg.References}
	v.To = versionInfo{Version: to, ID: newReg.ID, Type: schemaType(newReg.SchemaType), References: newReg.References}
	if cfg, err := c.opts.Registry.Config(ctx, subject, true); err == nil {
		v.Level = cfg.CompatibilityLevel
	}
	if changes, err := evolution.Diff(olds, news); err != nil {
		v.ChangesError = err.Error()
	} else if changes != nil {
		v.Changes = changes
	}
	for _, l := range levels {
		res, err := evolution.Check(l, news, history)
		if err != nil {
			return v, fmt.Errorf("subject %s: checking version %d at %s: %w", subject, to, l, err)
		}
		vd := verdict{Level: l.String(), Compatible: res.Compatible, Current: strings.EqualFold(v.Level, l.String())}
		for _, is := range res.Issues {
			vd.Messages = append(vd.Messages, label(evolution.Schema{Name: is.Against})+": "+is.String())
		}
		v.Verdicts = append(v.Verdicts, vd)
	}
	lt, rt := pretty(v.From.Type, oldReg.Schema), pretty(v.To.Type, newReg.Schema)
	v.Rows = lineDiff(strings.Split(lt, "\n"), strings.Split(rt, "\n"), highlight(v.From.Type, lt), highlight(v.To.Type, rt))
	ext := map[string]string{registry.TypeAvro: ".avsc", registry.TypeProtobuf: ".proto", registry.TypeJSON: ".json"}[v.To.Type]
	cmd := fmt.Sprintf("schemaflow compat --type %s --level LEVEL v%d%s", strings.ToLower(v.To.Type), to, ext)
	for _, n := range v.Against {
		cmd += fmt.Sprintf(" v%d%s", n, ext)
	}
	v.Command = cmd
	return v, nil
}

func (c *Console) diffPage(w http.ResponseWriter, r *http.Request) {
	v, err := c.diffData(r)
	if err != nil {
		c.renderError(w, r, "schemas", err)
		return
	}
	c.render(w, r, "diff.html", fmt.Sprintf("%s v%d..v%d", v.Subject, v.From.Version, v.To.Version), "schemas", v)
}

func (c *Console) diffAPI(w http.ResponseWriter, r *http.Request) {
	v, err := c.diffData(r)
	if err != nil {
		c.renderError(w, r, "schemas", err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}
