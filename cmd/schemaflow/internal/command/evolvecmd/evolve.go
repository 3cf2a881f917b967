// Package evolvecmd implements `schemaflow evolve`: the dry run of what a
// source would register for a set of documents.
package evolvecmd

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"go.mongodb.org/mongo-driver/bson"

	"github.com/schemaflow/schemaflow/cmd/schemaflow/internal/cli"
	"github.com/schemaflow/schemaflow/evolution"
	"github.com/schemaflow/schemaflow/processor/subject"
	"github.com/schemaflow/schemaflow/registry"
	"github.com/schemaflow/schemaflow/schemas"
	"github.com/schemaflow/schemaflow/schemas/extjson"
	"github.com/schemaflow/schemaflow/schemas/infer"
)

// ExitNoFit is the exit code when no version the level allows can carry
// the documents.
const ExitNoFit = 100

// allLevels are the levels whose verdict evolve prints.
var allLevels = []evolution.Level{
	evolution.None, evolution.Backward, evolution.BackwardTransitive,
	evolution.Forward, evolution.ForwardTransitive, evolution.Full, evolution.FullTransitive,
}

// New returns the evolve command.
func New() *cli.Command {
	return &cli.Command{
		Name:    "evolve",
		Summary: "show the version a source would register for documents, and optionally register it",
		Usage:   "--registry URL --subject S [--format avro|protobuf] [--level L] [--name N] [--namespace NS] [--numbers widen|exact] [--apply] [--output text|json] [DOCS ...]",
		Help: `Reads MongoDB Extended JSON documents (one per line, or a JSON array), from
the files or standard input ("-"), and works out what a source pipeline
would do with them on the subject: documents the latest version carries
need nothing; the others are inferred and evolved against the subject's
versions at its level (or --level), by the source's own code. It prints the
next schema, the field-level changes (added, widened, made optional, union
grown) and the verdict at every compatibility level. A subject with no
versions plans version 1, under --name and --namespace. Nothing is written
unless --apply, which registers the planned version and prints its id and
version.

The registry comes from --registry (default $SCHEMAFLOW_REGISTRY_URL, else
http://127.0.0.1:8081), with --user and --password (or
$SCHEMAFLOW_REGISTRY_USER, $SCHEMAFLOW_REGISTRY_PASSWORD), or --token; an
https URL is verified against the system roots, or --tls-ca.

Exit codes: 0 the documents fit (no change needed, or a compatible version
planned); 100 no version the level allows can carry them (the field and
the rule are named); 1 any other error (an unreachable registry, a bad
document as FILE:LINE); 2 bad usage.`,
		Setup: func(fs *flag.FlagSet) cli.RunFunc {
			o := &options{
				url:       fs.String("registry", "", "registry `URL` (default $SCHEMAFLOW_REGISTRY_URL, else http://127.0.0.1:8081)"),
				user:      fs.String("user", "", "basic auth `user` (default $SCHEMAFLOW_REGISTRY_USER)"),
				password:  fs.String("password", "", "basic auth `password` (default $SCHEMAFLOW_REGISTRY_PASSWORD)"),
				token:     fs.String("token", "", "bearer `token`"),
				tlsCA:     fs.String("tls-ca", "", "PEM `file` of the CAs that sign an https registry's certificate (default the system roots)"),
				subject:   fs.String("subject", "", "registry `subject`, e.g. orders-value (required)"),
				format:    fs.String("format", "", "schema `format` of a new subject: avro (default) or protobuf; default for others: the subject's"),
				level:     fs.String("level", "", "compatibility `level` the next version keeps (default the subject's in the registry)"),
				name:      fs.String("name", "Document", "record or message `name` of a first version"),
				namespace: fs.String("namespace", "", "Avro `namespace` or Protobuf package of a first version"),
				numbers:   fs.String("numbers", "widen", "number `mode`: widen or exact, as the source's numbers:"),
				apply:     fs.Bool("apply", false, "register the planned version"),
				output:    fs.String("output", "text", "output `format`: text or json"),
			}
			return o.run
		},
	}
}

type options struct {
	url, user, password, token, tlsCA *string
	subject, format, level            *string
	name, namespace, numbers, output  *string
	apply                             *bool
}

// doc is a document read, with where it was read.
type doc struct {
	raw  bson.Raw
	file string
	line int
}

func (o *options) run(ctx context.Context, env *cli.Env, args []string) error {
	if *o.subject == "" {
		return cli.Usagef("--subject is required")
	}
	if *o.output != "text" && *o.output != "json" {
		return cli.Usagef("--output must be text or json, not %q", *o.output)
	}
	var format schemas.Format
	if *o.format != "" {
		f, err := schemas.ParseFormat(*o.format)
		if err != nil || f == schemas.JSON {
			return cli.Usagef("--format must be avro or protobuf, not %q", *o.format)
		}
		format = f
	}
	var level evolution.Level
	if *o.level != "" {
		l, err := evolution.ParseLevel(*o.level)
		if err != nil {
			return cli.Usagef("--level: %v", err)
		}
		level = l
	}
	numbers, err := schemas.ParseNumbers(*o.numbers)
	if err != nil {
		return cli.Usagef("--numbers must be widen or exact, not %q", *o.numbers)
	}
	client, err := o.client(env)
	if err != nil {
		return err
	}

	var docs []doc
	err = cli.OpenInputs(env, args, func(file string, r io.Reader) error {
		return extjson.Read(r, file, func(d bson.Raw, line int) error {
			docs = append(docs, doc{raw: d, file: file, line: line})
			return nil
		})
	})
	if err != nil {
		return err
	}
	if len(docs) == 0 {
		return errors.New("no documents read")
	}
	if format == 0 {
		if format, err = subjectFormat(ctx, client, *o.subject); err != nil {
			return err
		}
	}
	enc, err := subject.New(ctx, subject.Options{
		Registry: client, Subject: *o.subject, Format: format, Level: level,
		Infer: infer.Options{Name: *o.name, Namespace: *o.namespace}, Numbers: numbers,
	})
	if err != nil {
		return err
	}
	raws := make([]bson.Raw, len(docs))
	for i, d := range docs {
		raws[i] = d.raw
	}
	plan, err := enc.Plan(ctx, raws)
	var ee *evolution.EvolveError
	var ue *subject.UnfitError
	switch {
	case errors.As(err, &ee):
		return o.noFit(env, *o.subject, ee.Field, ee.Rule, err.Error())
	case errors.As(err, &ue):
		d := docs[ue.Index]
		return o.noFit(env, *o.subject, "", "DOES_NOT_FIT", fmt.Sprintf("%s:%d: %v", d.file, d.line, ue.Err))
	case err != nil:
		return err
	}
	rep, err := report(plan)
	if err != nil {
		return err
	}
	if *o.apply && plan.Changed {
		id, version, err := enc.Apply(ctx, plan)
		if err != nil {
			return err
		}
		rep.Registered = registered{Applied: true, ID: id, Version: version}
	}
	if *o.output == "json" {
		return writeJSON(env.Stdout, rep)
	}
	return rep.text(env.Stdout)
}

func (o *options) client(env *cli.Env) (*registry.Client, error) {
	pick := func(flagValue, envName, def string) string {
		if flagValue != "" {
			return flagValue
		}
		if v := env.Getenv(envName); v != "" {
			return v
		}
		return def
	}
	opts := registry.ClientOptions{
		Username:    pick(*o.user, "SCHEMAFLOW_REGISTRY_USER", ""),
		Password:    pick(*o.password, "SCHEMAFLOW_REGISTRY_PASSWORD", ""),
		BearerToken: *o.token,
	}
	if *o.tlsCA != "" {
		pem, err := os.ReadFile(env.Path(*o.tlsCA))
		if err != nil {
			return nil, fmt.Errorf("--tls-ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--tls-ca %s: no PEM certificate", *o.tlsCA)
		}
		opts.TLS = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	c, err := registry.NewClient(pick(*o.url, "SCHEMAFLOW_REGISTRY_URL", "http://127.0.0.1:8081"), opts)
	if err != nil {
		return nil, cli.Usagef("--registry: %v", err)
	}
	return c, nil
}

// subjectFormat is the format of the subject's latest version, or Avro
// for a subject without versions.
func subjectFormat(ctx context.Context, c *registry.Client, name string) (schemas.Format, error) {
	versions, err := c.Versions(ctx, name, false)
	var re *registry.Error
	if errors.As(err, &re) && re.Code == registry.CodeSubjectNotFound || err == nil && len(versions) == 0 {
		return schemas.Avro, nil
	}
	if err != nil {
		return 0, fmt.Errorf("subject %s: versions: %w", name, err)
	}
	s, err := c.Version(ctx, name, versions[len(versions)-1], false)
	if err != nil {
		return 0, fmt.Errorf("subject %s: version %d: %w", name, versions[len(versions)-1], err)
	}
	switch s.SchemaType {
	case "", registry.TypeAvro:
		return schemas.Avro, nil
	case registry.TypeProtobuf:
		return schemas.Protobuf, nil
	}
	return 0, fmt.Errorf("subject %s holds %s schemas, which documents do not evolve", name, s.SchemaType)
}

// levelVerdict is the verdict at one level.
type levelVerdict struct {
	Compatible bool     `json:"compatible"`
	Issues     []string `json:"issues,omitempty"`
}

type registered struct {
	Applied bool `json:"applied"`
	ID      int  `json:"id,omitempty"`
	Version int  `json:"version,omitempty"`
}

type latestRef struct {
	Version int `json:"version"`
	ID      int `json:"id"`
}

// result is what evolve prints: as JSON, one object.
type result struct {
	Subject string `json:"subject"`
	Level   string `json:"level"`
	Format  string `json:"format"`
	// Fits is false only on exit 100.
	Fits bool `json:"fits"`
	// Latest is the subject's latest version, null when none.
	Latest *latestRef `json:"latest"`
	// Changed reports whether a new version is needed; NextVersion is its
	// number as the registry would give it to the next version
	// (0 without change).
	Changed     bool                    `json:"changed"`
	NextVersion int                     `json:"next_version,omitempty"`
	Fitting     int                     `json:"fitting"`
	Schema      string                  `json:"schema"`
	Changes     []evolution.Change      `json:"changes"`
	Levels      map[string]levelVerdict `json:"levels"`
	Registered  registered              `json:"registered"`
	Problem     *problem                `json:"problem,omitempty"`
}

type problem struct {
	Field  string `json:"field,omitempty"`
	Rule   string `json:"rule"`
	Reason string `json:"reason"`
}

func report(p *subject.Plan) (*result, error) {
	r := &result{
		Subject: p.Subject, Level: p.Level.String(), Format: p.Format.String(), Fits: true,
		Changed: p.Changed, Fitting: p.Fitting, Schema: string(p.Next.Text),
		Changes: p.Changes, Levels: map[string]levelVerdict{},
	}
	if r.Changes == nil {
		r.Changes = []evolution.Change{}
	}
	if p.LatestVersion > 0 {
		r.Latest = &latestRef{Version: p.LatestVersion, ID: p.LatestID}
	}
	if p.Changed {
		r.NextVersion = p.LatestVersion + 1
	}
	// The planned version against the versions before it; without change
	// the latest version against the ones before it.
	earlier := p.History
	if !p.Changed && len(earlier) > 0 {
		earlier = earlier[:len(earlier)-1]
	}
	for _, l := range allLevels {
		res, err := evolution.Check(l, p.Next, earlier)
		if err != nil {
			return nil, fmt.Errorf("compatibility at %s: %w", l, err)
		}
		v := levelVerdict{Compatible: res.Compatible}
		for _, is := range res.Issues {
			v.Issues = append(v.Issues, is.String())
		}
		r.Levels[l.String()] = v
	}
	return r, nil
}

func writeJSON(w io.Writer, v any) error {
	out, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", out)
	return err
}

// noFit reports documents no version can carry, and exits 100.
func (o *options) noFit(env *cli.Env, name, field, rule, reason string) error {
	if *o.output == "json" {
		r := &result{Subject: name, Problem: &problem{Field: field, Rule: rule, Reason: reason}, Changes: []evolution.Change{}, Levels: map[string]levelVerdict{}}
		if err := writeJSON(env.Stdout, r); err != nil {
			return err
		}
		return &cli.ExitCodeError{Code: ExitNoFit}
	}
	return &cli.ExitCodeError{Code: ExitNoFit, Err: fmt.Errorf("%s: the documents fit no version the level allows: %s", name, reason)}
}

func (r *result) text(w io.Writer) error {
	var b strings.Builder
	switch {
	case r.Latest == nil:
		fmt.Fprintf(&b, "subject %s has no versions: version 1 planned (%s)\n", r.Subject, r.Format)
	case !r.Changed:
		fmt.Fprintf(&b, "subject %s: the documents fit version %d (id %d), no new version needed (level %s)\n", r.Subject, r.Latest.Version, r.Latest.ID, r.Level)
	default:
		fmt.Fprintf(&b, "subject %s: version %d planned after version %d (id %d), level %s; %d of the documents fit the latest\n", r.Subject, r.NextVersion, r.Latest.Version, r.Latest.ID, r.Level, r.Fitting)
	}
	if r.Changed && r.Latest != nil {
		b.WriteString("\nchanges:\n")
		for _, c := range r.Changes {
			b.WriteString("  " + c.String() + "\n")
		}
	}
	b.WriteString("\nlevels:\n")
	tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	for _, l := range allLevels {
		v := r.Levels[l.String()]
		verdict := "compatible"
		if !v.Compatible {
			verdict = "incompatible: " + strings.Join(v.Issues, "; ")
		}
		fmt.Fprintf(tw, "  %s\t%s\n", l, verdict)
	}
	tw.Flush()
	if r.Registered.Applied {
		fmt.Fprintf(&b, "\nregistered %s version %d, id %d\n", r.Subject, r.Registered.Version, r.Registered.ID)
	} else if r.Changed {
		b.WriteString("\nnot registered (dry run; --apply registers it)\n")
	}
	b.WriteString("\nschema:\n")
	b.WriteString(r.Schema)
	if !strings.HasSuffix(r.Schema, "\n") {
		b.WriteByte('\n')
	}
	_, err := io.WriteString(w, b.String())
	return err
}
