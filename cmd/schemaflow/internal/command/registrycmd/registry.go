// Package registrycmd implements `schemaflow registry`: the registry
// server and the admin commands that talk to any Confluent-compatible
// registry.
package registrycmd

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/schemaflow/schemaflow/cmd/schemaflow/internal/cli"
	"github.com/schemaflow/schemaflow/processor/console"
	"github.com/schemaflow/schemaflow/registry"
	"github.com/schemaflow/schemaflow/registry/httpfast"
	"github.com/schemaflow/schemaflow/registry/server"
	"github.com/schemaflow/schemaflow/registry/store"
)

// ExitIncompatible is the exit code of `check` for an incompatible schema.
const ExitIncompatible = 100

// New returns the registry command group.
func New() *cli.Command {
	return &cli.Command{
		Name:    "registry",
		Summary: "run a Confluent-compatible schema registry, or administer one",
		Help: `The admin commands talk to any Confluent-compatible registry at --url
(default $SCHEMAFLOW_REGISTRY_URL, else http://127.0.0.1:8081). Credentials
come from --user and --password, or $SCHEMAFLOW_REGISTRY_USER and
$SCHEMAFLOW_REGISTRY_PASSWORD. Output is a table, or JSON with --output json.`,
		Subcommands: []*cli.Command{
			serve(), subjects(), versions(), get(), register(), del(),
			compat(), mode(), export(), importCmd(), check(),
		},
	}
}

// --- serve ---

func serve() *cli.Command {
	return &cli.Command{
		Name:    "serve",
		Summary: "serve the Confluent Schema Registry REST API",
		Usage:   "[--listen ADDR] [--store memory|file:DIR|kafka[:BROKERS]] [--store-timeout D] [--kafka-config FILE] [--kafka-sasl-mechanism M --kafka-sasl-user U] [--kafka-tls] [--kafka-tls-ca F] [--advertise URL] [--users FILE] [--tls-cert FILE --tls-key FILE] [--http-engine fasthttp|net]",
		Help: `Serves the registry until interrupted. --store file:DIR keeps the registry
in DIR, durable across restarts and safe against a crash in the middle of
a write. --store kafka:BROKERS (comma-separated) keeps it in the _schemas
topic, record for record as Confluent writes it; several instances can
serve one topic: a Kafka consumer group elects the writer, and the others
forward writes to the URL it advertises (--advertise, default the listen
address). Any number of instances may start at once. Every write has a
deadline (--store-timeout, default 10s): past it the write answers 50002
and holds nothing reads need; reads answer from memory while the brokers
are away. The log decides between writers: two instances that both
believe they lead cannot give one id to two schemas or two ids to one
schema (the later record is refused on every instance and its writer
retries). The store logs in to Kafka as pipelines do: --kafka-config FILE
reads a pipeline spec's kafka block (brokers, client_id, sasl with PLAIN or
SCRAM-SHA-256/512, tls with ca_file, cert_file, key_file, server_name),
and the --kafka-sasl-* and --kafka-tls* flags set or override it; the
password also comes from $SCHEMAFLOW_SASL_PASSWORD. --users enables HTTP
basic auth from a file of user:bcrypt-hash lines (htpasswd -nB USER makes
one). It listens on 127.0.0.1 unless told otherwise. The web console's
schema pages are served at /console/ (subjects, versions, diffs with every
level's verdict), behind the same basic auth; --console=false turns them
off.

Confluent-equivalent: the REST API for subjects, versions, ids, deletes,
references, lookups, compatibility, config, mode (IMPORT included), error
codes, the _schemas records byte for byte; metadata and ruleSet stored,
part of a schema's identity, inherited from the previous version and
merged with the config's defaultMetadata/overrideMetadata/defaultRuleSet/
overrideRuleSet (rules are not enforced); format=resolved for Avro (names
written in full) and format=serialized for Protobuf; contexts
(:.ctx:subject with per-context ids, /contexts, DELETE /contexts/{ctx},
DELETE /contexts/. refused with 405, the CONTEXT record, the
/contexts/{ctx}/ URL form, context-level config and mode); normalize=true
for Avro and JSON Schema, and for Protobuf byte for byte; Protobuf
format=ignore_extensions byte for byte; registering a Protobuf schema as
a base64 FileDescriptorProto. Not equivalent: a Protobuf schema is
stored and compared as given (comments kept; another layout is another
id), not as Confluent's canonical string, and one given as a
FileDescriptorProto as schemaflow prints it; schemas Confluent takes
unchecked but protoc refuses are refused; rule enforcement.
Reads and lookups are answered from precomputed bytes, at most 64 MiB.

--http-engine picks the HTTP server. fasthttp (the default) answers a
read or lookup answered before, and checks basic auth, without net/http,
with the same bytes; everything else goes to the net/http handler. It
reads a request's header within 10s and its body within a minute, and
closes a keep-alive connection idle for 5 minutes. net is Go's net/http
server (header within 10s, no idle limit). Both speak HTTP/1.1 only (no
HTTP/2, with TLS or without) and answer a body past 16 MiB with 413.
Measured with wrk (2 threads, 64 connections) on 2 quiet CPUs, fasthttp
served 60,000-63,000 reads by id and 57,000-58,000 lookups/s, net/http
37,000-39,000 and 35,000-37,000, at 16-17 against 28-32 microseconds of
CPU per request; make bench-registry measures both.`,
		Setup: func(fs *flag.FlagSet) cli.RunFunc {
			listen := fs.String("listen", "127.0.0.1:8081", "`address` to listen on")
			storeSpec := fs.String("store", "memory", "`store`: memory, file:DIR, or kafka[:BROKERS] (brokers may come from --kafka-config)")
			usersFile := fs.String("users", "", "`file` of user:bcrypt-hash lines; enables basic auth")
			advertise := fs.String("advertise", "", "`URL` other instances forward writes to (kafka store; default from --listen)")
			cert := fs.String("tls-cert", "", "TLS certificate `file`")
			key := fs.String("tls-key", "", "TLS key `file`")
			kafka := defineKafkaFlags(fs)
			storeTimeout := fs.Duration("store-timeout", store.DefaultTimeout, "`deadline` of each write to the store; a write past it answers 50002")
			withConsole := fs.Bool("console", true, "serve the web console's schema pages at /console/")
			engine := fs.String("http-engine", "fasthttp", "HTTP `engine`: fasthttp (answers repeated reads and lookups natively; HTTP/1.1 only) or net (net/http)")
			return func(ctx context.Context, env *cli.Env, args []string) error {
				if len(args) > 0 {
					return cli.Usagef("serve takes no arguments")
				}
				if (*cert == "") != (*key == "") {
					return cli.Usagef("--tls-cert and --tls-key go together")
				}
				if *engine != "fasthttp" && *engine != "net" {
					return cli.Usagef("--http-engine must be fasthttp or net, not %q", *engine)
				}
				ln, err := net.Listen("tcp", *listen)
				if err != nil {
					return err
				}
				scheme := "http"
				if *cert != "" {
					scheme = "https"
				}
				url := *advertise
				if url == "" {
					url = scheme + "://" + ln.Addr().String()
				}
				if *storeTimeout <= 0 {
					return cli.Usagef("--store-timeout must be positive")
				}
				st, err := openStore(ctx, env, *storeSpec, url, *storeTimeout, kafka)
				if err != nil {
					ln.Close()
					return err
				}
				defer st.Close()
				srv, err := server.New(st, server.Options{StoreTimeout: *storeTimeout})
				if err != nil {
					ln.Close()
					return err
				}
				var h http.Handler = srv
				var users *server.Users
				if *withConsole {
					c, err := console.New(console.Options{Registry: console.HandlerRegistry{Handler: srv}, Realm: "schemaflow registry"})
					if err != nil {
						ln.Close()
						return err
					}
					h = c.Mount(srv)
				}
				if *usersFile != "" {
					f, err := os.Open(env.Path(*usersFile))
					if err != nil {
						ln.Close()
						return err
					}
					users, err = server.ParseUsers(*usersFile, f)
					f.Close()
					if err != nil {
						ln.Close()
						return err
					}
					h = server.RequireAuth(users, h)
				}
				if *cert != "" {
					pair, err := tls.LoadX509KeyPair(env.Path(*cert), env.Path(*key))
					if err != nil {
						ln.Close()
						return err
					}
					ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12})
				}
				var hs httpServer
				if *engine == "net" {
					hs = &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
				} else {
					fast, err := httpfast.New(srv, h, httpfast.Options{Users: users})
					if err != nil {
						ln.Close()
						return err
					}
					hs = fast
				}
				fmt.Fprintf(env.Stdout, "registry listening on %s://%s (store %s, http engine %s)\n", scheme, ln.Addr(), *storeSpec, *engine)
				if *withConsole {
					fmt.Fprintf(env.Stdout, "console on %s://%s/console/\n", scheme, ln.Addr())
				}
				errc := make(chan error, 1)
				go func() { errc <- hs.Serve(ln) }()
				select {
				case err := <-errc:
					return err
				case <-ctx.Done():
					shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
					defer cancel()
					return hs.Shutdown(shutdown)
				}
			}
		},
	}
}

// httpServer is what serve needs of an HTTP engine: *http.Server and
// *httpfast.Server.
type httpServer interface {
	Serve(net.Listener) error
	Shutdown(context.Context) error
}

func openStore(ctx context.Context, env *cli.Env, spec, url string, timeout time.Duration, kafka kafkaFlags) (store.Store, error) {
	kind, arg, _ := strings.Cut(spec, ":")
	if kind != "kafka" && kafka.used() {
		return nil, cli.Usagef("the --kafka-* flags are for --store kafka")
	}
	switch kind {
	case "memory":
		return store.NewMemory(), nil
	case "file":
		if arg == "" {
			return nil, cli.Usagef("--store file:DIR needs a directory")
		}
		return store.OpenFile(env.Path(arg))
	case "kafka":
		opts, brokers, err := kafka.options(env)
		if err != nil {
			return nil, err
		}
		if arg != "" {
			brokers = strings.Split(arg, ",")
		}
		if len(brokers) == 0 {
			return nil, cli.Usagef("--store kafka:BROKERS needs brokers (host:port,...), or --store kafka with brokers in --kafka-config")
		}
		open, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		return store.OpenKafka(open, store.KafkaOptions{Brokers: brokers, URL: url, Timeout: timeout, ClientOptions: opts})
	}
	return nil, cli.Usagef("unknown --store %q (want memory, file:DIR or kafka:BROKERS)", spec)
}

// --- shared admin flags ---

type conn struct {
	url, user, password, token, output *string
}

func connFlags(fs *flag.FlagSet) conn {
	return conn{
		url:      fs.String("url", "", "registry `URL` (default $SCHEMAFLOW_REGISTRY_URL, else http://127.0.0.1:8081)"),
		user:     fs.String("user", "", "basic auth `user` (default $SCHEMAFLOW_REGISTRY_USER)"),
		password: fs.String("password", "", "basic auth `password` (default $SCHEMAFLOW_REGISTRY_PASSWORD)"),
		token:    fs.String("token", "", "bearer `token`"),
		output:   fs.String("output", "table", "output `format`: table or json"),
	}
}

func (c conn) client(env *cli.Env) (*registry.Client, error) {
	if *c.output != "table" && *c.output != "json" {
		return nil, cli.Usagef("--output must be table or json, not %q", *c.output)
	}
	pick := func(flagValue, envName, def string) string {
		if flagValue != "" {
			return flagValue
		}
		if v := env.Getenv(envName); v != "" {
			return v
		}
		return def
	}
	return registry.NewClient(pick(*c.url, "SCHEMAFLOW_REGISTRY_URL", "http://127.0.0.1:8081"), registry.ClientOptions{
		Username:    pick(*c.user, "SCHEMAFLOW_REGISTRY_USER", ""),
		Password:    pick(*c.password, "SCHEMAFLOW_REGISTRY_PASSWORD", ""),
		BearerToken: *c.token,
	})
}

// print writes v as JSON, or rows as a table under header.
func (c conn) print(env *cli.Env, v any, header []string, rows [][]string) error {
	if *c.output == "json" {
		out, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(env.Stdout, "%s\n", out)
		return err
	}
	tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
	if header != nil {
		fmt.Fprintln(tw, strings.Join(header, "\t"))
	}
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	return tw.Flush()
}

func adminCommand(name, summary, usage, help string, setup func(fs *flag.FlagSet, c conn) func(ctx context.Context, env *cli.Env, rc *registry.Client, args []string) error) *cli.Command {
	return &cli.Command{
		Name: name, Summary: summary, Usage: usage, Help: help,
		Setup: func(fs *flag.FlagSet) cli.RunFunc {
			c := connFlags(fs)
			run := setup(fs, c)
			return func(ctx context.Context, env *cli.Env, args []string) error {
				rc, err := c.client(env)
				if err != nil {
					return err
				}
				return run(ctx, env, rc, args)
			}
		},
	}
}

// --- admin commands ---

func subjects() *cli.Command {
	return adminCommand("subjects", "list subjects", "[--deleted]", "", func(fs *flag.FlagSet, c conn) func(context.Context, *cli.Env, *registry.Client, []string) error {
		deleted := fs.Bool("deleted", false, "include soft-deleted subjects")
		return func(ctx context.Context, env *cli.Env, rc *registry.Client, args []string) error {
			if len(args) > 0 {
				return cli.Usagef("subjects takes no arguments")
			}
			subs, err := rc.Subjects(ctx, *deleted)
			if err != nil {
				return err
			}
			rows := make([][]string, len(subs))
			for i, s := range subs {
				rows[i] = []string{s}
			}
			return c.print(env, subs, []string{"SUBJECT"}, rows)
		}
	})
}

func versions() *cli.Command {
	return adminCommand("versions", "list a subject's versions", "SUBJECT [--deleted]", "", func(fs *flag.FlagSet, c conn) func(context.Context, *cli.Env, *registry.Client, []string) error {
		deleted := fs.Bool("deleted", false, "include soft-deleted versions")
		return func(ctx context.Context, env *cli.Env, rc *registry.Client, args []string) error {
			if len(args) != 1 {
				return cli.Usagef("versions takes one SUBJECT")
			}
			vs, err := rc.Versions(ctx, args[0], *deleted)
			if err != nil {
				return err
			}
			rows := make([][]string, len(vs))
			for i, v := range vs {
				rows[i] = []string{strconv.Itoa(v)}
			}
			return c.print(env, vs, []string{"VERSION"}, rows)
		}
	})
}

func get() *cli.Command {
	return adminCommand("get", "show a schema", "SUBJECT [VERSION] | --id N", "Shows a version (default: the latest) or, with --id, a schema by id.", func(fs *flag.FlagSet, c conn) func(context.Context, *cli.Env, *registry.Client, []string) error {
		id := fs.Int("id", 0, "schema `id`")
		return func(ctx context.Context, env *cli.Env, rc *registry.Client, args []string) error {
			if *id > 0 {
				if len(args) > 0 {
					return cli.Usagef("get --id takes no SUBJECT")
				}
				s, err := rc.SchemaByID(ctx, *id)
				if err != nil {
					return err
				}
				return c.print(env, s, []string{"ID", "TYPE", "SCHEMA"}, [][]string{{strconv.Itoa(*id), s.SchemaType, s.Schema}})
			}
			if len(args) < 1 || len(args) > 2 {
				return cli.Usagef("get takes SUBJECT [VERSION], or --id N")
			}
			v := 0
			if len(args) == 2 && args[1] != "latest" {
				n, err := strconv.Atoi(args[1])
				if err != nil || n <= 0 {
					return cli.Usagef("VERSION must be a positive number or latest, not %q", args[1])
				}
				v = n
			}
			s, err := rc.Version(ctx, args[0], v, false)
			if err != nil {
				return err
			}
			return c.print(env, s, []string{"SUBJECT", "VERSION", "ID", "TYPE", "SCHEMA"}, [][]string{{s.Subject, strconv.Itoa(s.Version), strconv.Itoa(s.ID), s.SchemaType, s.Schema}})
		}
	})
}

// refList collects --ref name=subject:version flags.
type refList []registry.Reference

func (r *refList) String() string { return fmt.Sprint(*r) }

func (r *refList) Set(v string) error {
	name, rest, ok1 := strings.Cut(v, "=")
	subject, ver, ok2 := strings.Cut(rest, ":")
	n, err := strconv.Atoi(ver)
	if !ok1 || !ok2 || name == "" || subject == "" || err != nil || n <= 0 {
		return fmt.Errorf("want name=subject:version, got %q", v)
	}
	*r = append(*r, registry.Reference{Name: name, Subject: subject, Version: n})
	return nil
}

func schemaRequest(env *cli.Env, file, typ string, refs refList) (registry.RegisterRequest, error) {
	text, err := os.ReadFile(env.Path(file))
	if err != nil {
		return registry.RegisterRequest{}, err
	}
	if typ == "" {
		switch filepath.Ext(file) {
		case ".proto":
			typ = registry.TypeProtobuf
		case ".json":
			typ = registry.TypeJSON
		default:
			typ = registry.TypeAvro
		}
	}
	t, ok := registry.NormalizeType(typ)
	if !ok {
		return registry.RegisterRequest{}, cli.Usagef("--type must be AVRO, PROTOBUF or JSON, not %q", typ)
	}
	return registry.RegisterRequest{Schema: string(text), SchemaType: t, References: refs}, nil
}

func register() *cli.Command {
	return adminCommand("register", "register a schema", "SUBJECT FILE [--type T] [--ref name=subject:version ...] [--normalize]", "The type comes from the file extension (.avsc, .proto, .json) unless --type says.", func(fs *flag.FlagSet, c conn) func(context.Context, *cli.Env, *registry.Client, []string) error {
		typ := fs.String("type", "", "schema `type`: AVRO, PROTOBUF or JSON")
		normalize := fs.Bool("normalize", false, "normalize the schema before registering")
		var refs refList
		fs.Var(&refs, "ref", "a `name=subject:version` reference; repeatable")
		return func(ctx context.Context, env *cli.Env, rc *registry.Client, args []string) error {
			if len(args) != 2 {
				return cli.Usagef("register takes SUBJECT FILE")
			}
			req, err := schemaRequest(env, args[1], *typ, refs)
			if err != nil {
				return err
			}
			id, err := rc.Register(ctx, args[0], req, *normalize)
			if err != nil {
				return err
			}
			return c.print(env, registry.RegisterResponse{ID: id}, []string{"SUBJECT", "ID"}, [][]string{{args[0], strconv.Itoa(id)}})
		}
	})
}

func del() *cli.Command {
	return adminCommand("delete", "delete a version or a subject", "SUBJECT [VERSION] [--permanent]", "A permanent delete needs a soft delete first, as in Confluent.", func(fs *flag.FlagSet, c conn) func(context.Context, *cli.Env, *registry.Client, []string) error {
		permanent := fs.Bool("permanent", false, "delete for good (after a soft delete)")
		return func(ctx context.Context, env *cli.Env, rc *registry.Client, args []string) error {
			switch len(args) {
			case 1:
				vs, err := rc.DeleteSubject(ctx, args[0], *permanent)
				if err != nil {
					return err
				}
				rows := make([][]string, len(vs))
				for i, v := range vs {
					rows[i] = []string{args[0], strconv.Itoa(v)}
				}
				return c.print(env, vs, []string{"SUBJECT", "DELETED VERSION"}, rows)
			case 2:
				n, err := strconv.Atoi(args[1])
				if err != nil || n <= 0 {
					return cli.Usagef("VERSION must be a positive number, not %q", args[1])
				}
				v, err := rc.DeleteVersion(ctx, args[0], n, *permanent)
				if err != nil {
					return err
				}
				return c.print(env, v, []string{"SUBJECT", "DELETED VERSION"}, [][]string{{args[0], strconv.Itoa(v)}})
			}
			return cli.Usagef("delete takes SUBJECT [VERSION]")
		}
	})
}

func compat() *cli.Command {
	return adminCommand("compat", "read or set a compatibility level", "get|set [SUBJECT] [LEVEL]", "Without SUBJECT, the global level.", func(fs *flag.FlagSet, c conn) func(context.Context, *cli.Env, *registry.Client, []string) error {
		return func(ctx context.Context, env *cli.Env, rc *registry.Client, args []string) error {
			if len(args) >= 1 && args[0] == "get" && len(args) <= 2 {
				subject := ""
				if len(args) == 2 {
					subject = args[1]
				}
				cfg, err := rc.Config(ctx, subject, true)
				if err != nil {
					return err
				}
				return c.print(env, cfg, []string{"SUBJECT", "LEVEL"}, [][]string{{orGlobal(subject), cfg.CompatibilityLevel}})
			}
			if len(args) >= 2 && args[0] == "set" && len(args) <= 3 {
				subject, level := "", args[len(args)-1]
				if len(args) == 3 {
					subject = args[1]
				}
				if err := rc.SetConfig(ctx, subject, level); err != nil {
					return err
				}
				return c.print(env, registry.ConfigUpdate{Compatibility: strings.ToUpper(level)}, []string{"SUBJECT", "LEVEL"}, [][]string{{orGlobal(subject), strings.ToUpper(level)}})
			}
			return cli.Usagef("compat takes get [SUBJECT] or set [SUBJECT] LEVEL")
		}
	})
}

func orGlobal(subject string) string {
	if subject == "" {
		return "(global)"
	}
	return subject
}

func mode() *cli.Command {
	return adminCommand("mode", "read or set a mode", "get|set [SUBJECT] [MODE] [--force]", "Modes: READWRITE, READONLY, IMPORT. Without SUBJECT, the global mode.", func(fs *flag.FlagSet, c conn) func(context.Context, *cli.Env, *registry.Client, []string) error {
		force := fs.Bool("force", false, "allow IMPORT while subjects exist")
		return func(ctx context.Context, env *cli.Env, rc *registry.Client, args []string) error {
			if len(args) >= 1 && args[0] == "get" && len(args) <= 2 {
				subject := ""
				if len(args) == 2 {
					subject = args[1]
				}
				m, err := rc.Mode(ctx, subject, true)
				if err != nil {
					return err
				}
				return c.print(env, registry.Mode{Mode: m}, []string{"SUBJECT", "MODE"}, [][]string{{orGlobal(subject), m}})
			}
			if len(args) >= 2 && args[0] == "set" && len(args) <= 3 {
				subject, m := "", strings.ToUpper(args[len(args)-1])
				if len(args) == 3 {
					subject = args[1]
				}
				if err := rc.SetMode(ctx, subject, m, *force); err != nil {
					return err
				}
				return c.print(env, registry.Mode{Mode: m}, []string{"SUBJECT", "MODE"}, [][]string{{orGlobal(subject), m}})
			}
			return cli.Usagef("mode takes get [SUBJECT] or set [SUBJECT] MODE")
		}
	})
}

func check() *cli.Command {
	return adminCommand("check", "test a schema against the registry", "SUBJECT FILE [--type T] [--ref name=subject:version ...] [--version N]",
		"Checks FILE against the subject's versions under its level (or one --version), with the registry's messages. Exit 0 compatible, 100 incompatible.",
		func(fs *flag.FlagSet, c conn) func(context.Context, *cli.Env, *registry.Client, []string) error {
			typ := fs.String("type", "", "schema `type`: AVRO, PROTOBUF or JSON")
			version := fs.Int("version", 0, "check against this `version` only")
			var refs refList
			fs.Var(&refs, "ref", "a `name=subject:version` reference; repeatable")
			return func(ctx context.Context, env *cli.Env, rc *registry.Client, args []string) error {
				if len(args) != 2 {
					return cli.Usagef("check takes SUBJECT FILE")
				}
				req, err := schemaRequest(env, args[1], *typ, refs)
				if err != nil {
					return err
				}
				res, err := rc.CheckCompatibility(ctx, args[0], *version, req)
				if err != nil {
					return err
				}
				rows := [][]string{{args[0], strconv.FormatBool(res.IsCompatible), ""}}
				for _, m := range res.Messages {
					rows = append(rows, []string{"", "", m})
				}
				if err := c.print(env, res, []string{"SUBJECT", "COMPATIBLE", "MESSAGE"}, rows); err != nil {
					return err
				}
				if !res.IsCompatible {
					return &cli.ExitCodeError{Code: ExitIncompatible}
				}
				return nil
			}
		})
}

// --- export and import ---

// Export is the file `registry export` writes: every subject and version
// with its id, and the levels and modes.
type Export struct {
	Compatibility string `json:"compatibility"`
	// Contract holds the config's data-contract fields (defaultMetadata,
	// overrideMetadata, defaultRuleSet, overrideRuleSet), when set.
	Contract *registry.ConfigUpdate `json:"contract,omitempty"`
	Mode     string                 `json:"mode"`
	Subjects []ExportSubject        `json:"subjects"`
}

// contractOf is the data-contract part of a config, nil when it has none.
func contractOf(c registry.Config) *registry.ConfigUpdate {
	if len(c.DefaultMetadata)+len(c.OverrideMetadata)+len(c.DefaultRuleSet)+len(c.OverrideRuleSet) == 0 {
		return nil
	}
	return &registry.ConfigUpdate{DefaultMetadata: c.DefaultMetadata, OverrideMetadata: c.OverrideMetadata, DefaultRuleSet: c.DefaultRuleSet, OverrideRuleSet: c.OverrideRuleSet}
}

// ExportSubject is one subject of an Export.
type ExportSubject struct {
	Name          string                 `json:"name"`
	Compatibility string                 `json:"compatibility,omitempty"`
	Contract      *registry.ConfigUpdate `json:"contract,omitempty"`
	Mode          string                 `json:"mode,omitempty"`
	Versions      []registry.Schema      `json:"versions"`
}

// ExportFile is the name of the file in an export directory.
const ExportFile = "registry-export.json"

func export() *cli.Command {
	return adminCommand("export", "write every subject and version, with ids, levels and modes", "DIR", "Writes DIR/"+ExportFile+"; soft-deleted versions are kept, marked deleted.", func(fs *flag.FlagSet, c conn) func(context.Context, *cli.Env, *registry.Client, []string) error {
		return func(ctx context.Context, env *cli.Env, rc *registry.Client, args []string) error {
			if len(args) != 1 {
				return cli.Usagef("export takes DIR")
			}
			var ex Export
			cfg, err := rc.Config(ctx, "", false)
			if err != nil {
				return err
			}
			ex.Compatibility, ex.Contract = cfg.CompatibilityLevel, contractOf(cfg)
			if ex.Mode, err = rc.Mode(ctx, "", false); err != nil {
				return err
			}
			subs, err := rc.Subjects(ctx, true)
			if err != nil {
				return err
			}
			for _, name := range subs {
				es := ExportSubject{Name: name}
				if cfg, err := rc.Config(ctx, name, false); err == nil {
					es.Compatibility, es.Contract = cfg.CompatibilityLevel, contractOf(cfg)
				} else if !isCode(err, registry.CodeSubjectConfigNotFound) {
					return err
				}
				if m, err := rc.Mode(ctx, name, false); err == nil {
					es.Mode = m
				} else if !isCode(err, registry.CodeSubjectModeNotFound) {
					return err
				}
				vs, err := rc.Versions(ctx, name, true)
				if err != nil {
					return err
				}
				for _, v := range vs {
					s, err := rc.Version(ctx, name, v, true)
					if err != nil {
						return err
					}
					es.Versions = append(es.Versions, s)
				}
				ex.Subjects = append(ex.Subjects, es)
			}
			out, err := json.MarshalIndent(ex, "", "  ")
			if err != nil {
				return err
			}
			dir := env.Path(args[0])
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return err
			}
			if err := writeFileAtomic(filepath.Join(dir, ExportFile), append(out, '\n')); err != nil {
				return err
			}
			n := 0
			for _, s := range ex.Subjects {
				n += len(s.Versions)
			}
			fmt.Fprintf(env.Stderr, "exported %d subjects, %d versions to %s\n", len(ex.Subjects), n, filepath.Join(args[0], ExportFile))
			return nil
		}
	})
}

func writeFileAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func isCode(err error, code int) bool {
	var e *registry.Error
	return errors.As(err, &e) && e.Code == code
}

func importCmd() *cli.Command {
	return adminCommand("import", "load an export into a registry, keeping the ids", "DIR",
		"Puts the registry in IMPORT mode, registers every version with its id and version (in id order, so references resolve), restores deletions, levels and modes, then sets the exported global mode.",
		func(fs *flag.FlagSet, c conn) func(context.Context, *cli.Env, *registry.Client, []string) error {
			return func(ctx context.Context, env *cli.Env, rc *registry.Client, args []string) error {
				if len(args) != 1 {
					return cli.Usagef("import takes DIR")
				}
				name := filepath.Join(args[0], ExportFile)
				raw, err := os.ReadFile(env.Path(name))
				if err != nil {
					return err
				}
				var ex Export
				if err := json.Unmarshal(raw, &ex); err != nil {
					return fmt.Errorf("%s: %w", name, err)
				}
				if err := rc.SetMode(ctx, "", registry.ModeImport, false); err != nil {
					return fmt.Errorf("setting IMPORT mode: %w", err)
				}
				var all []registry.Schema
				for _, s := range ex.Subjects {
					all = append(all, s.Versions...)
				}
				slices.SortStableFunc(all, func(a, b registry.Schema) int { return a.ID - b.ID })
				for _, s := range all {
					req := registry.RegisterRequest{Schema: s.Schema, SchemaType: s.SchemaType, References: s.References, ID: s.ID, Version: s.Version, Metadata: s.Metadata, RuleSet: s.RuleSet}
					if _, err := rc.Register(ctx, s.Subject, req, false); err != nil {
						return fmt.Errorf("importing %s version %d (id %d): %w", s.Subject, s.Version, s.ID, err)
					}
				}
				for _, s := range all {
					if s.Deleted {
						if _, err := rc.DeleteVersion(ctx, s.Subject, s.Version, false); err != nil {
							return fmt.Errorf("restoring the deletion of %s version %d: %w", s.Subject, s.Version, err)
						}
					}
				}
				for _, s := range ex.Subjects {
					if s.Compatibility != "" {
						if err := rc.SetConfig(ctx, s.Name, s.Compatibility); err != nil {
							return err
						}
					}
					if s.Contract != nil {
						if err := rc.UpdateConfig(ctx, s.Name, *s.Contract); err != nil {
							return err
						}
					}
					if s.Mode != "" {
						if err := rc.SetMode(ctx, s.Name, s.Mode, true); err != nil {
							return err
						}
					}
				}
				if ex.Compatibility != "" {
					if err := rc.SetConfig(ctx, "", ex.Compatibility); err != nil {
						return err
					}
				}
				if ex.Contract != nil {
					if err := rc.UpdateConfig(ctx, "", *ex.Contract); err != nil {
						return err
					}
				}
				final := ex.Mode
				if final == "" {
					final = registry.ModeReadWrite
				}
				if err := rc.SetMode(ctx, "", final, true); err != nil {
					return err
				}
				fmt.Fprintf(env.Stderr, "imported %d subjects, %d versions\n", len(ex.Subjects), len(all))
				return nil
			}
		})
}
