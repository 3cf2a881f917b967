// Package consolecmd implements the console tools: `schemaflow consume`
// prints records decoded through the registry, `schemaflow produce` reads
// Extended JSON and produces framed records.
package consolecmd

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.mongodb.org/mongo-driver/bson"

	"github.com/schemaflow/schemaflow/cmd/schemaflow/internal/cli"
	"github.com/schemaflow/schemaflow/processor/decode"
	"github.com/schemaflow/schemaflow/processor/kafkaopt"
	"github.com/schemaflow/schemaflow/processor/spec"
	"github.com/schemaflow/schemaflow/registry"
	"github.com/schemaflow/schemaflow/schemas"
	"github.com/schemaflow/schemaflow/schemas/extjson"
	"github.com/schemaflow/schemaflow/schemas/serde"
	"github.com/schemaflow/schemaflow/schemas/wire"
)

// kafkaFlags are the connection flags the console tools share.
type kafkaFlags struct {
	brokers                 *string
	mechanism, user, passwd *string
	useTLS                  *bool
	ca                      *string
}

func defineKafkaFlags(fs *flag.FlagSet) kafkaFlags {
	return kafkaFlags{
		brokers:   fs.String("brokers", "127.0.0.1:9092", "Kafka seed `brokers`, comma-separated"),
		mechanism: fs.String("sasl-mechanism", "", "SASL `mechanism`: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512"),
		user:      fs.String("sasl-user", "", "SASL `user`"),
		passwd:    fs.String("sasl-password", "", "SASL `password`; default $SCHEMAFLOW_SASL_PASSWORD"),
		useTLS:    fs.Bool("tls", false, "connect with TLS (the system's roots unless --tls-ca)"),
		ca:        fs.String("tls-ca", "", "PEM `file` of roots to trust; implies --tls"),
	}
}

// options are the franz-go options the flags describe.
func (k kafkaFlags) options(env *cli.Env) ([]kgo.Opt, error) {
	kb := spec.Kafka{ClientID: "schemaflow-console"}
	if *k.mechanism != "" {
		pass := *k.passwd
		if pass == "" {
			pass = env.Getenv("SCHEMAFLOW_SASL_PASSWORD")
		}
		if *k.user == "" || pass == "" {
			return nil, cli.Usagef("--sasl-mechanism needs --sasl-user and a password (--sasl-password or $SCHEMAFLOW_SASL_PASSWORD)")
		}
		kb.SASL = &spec.SASL{Mechanism: *k.mechanism, Username: *k.user, Password: pass}
	}
	if *k.useTLS || *k.ca != "" {
		kb.TLS = &spec.TLS{CAFile: *k.ca}
	}
	opts, err := kafkaopt.Options(kb, env.Path)
	if err != nil {
		return nil, cli.Usagef("%v", err)
	}
	return append([]kgo.Opt{kgo.SeedBrokers(strings.Split(*k.brokers, ",")...)}, opts...), nil
}

// NewConsume returns the consume command.
func NewConsume() *cli.Command {
	return &cli.Command{
		Name:    "consume",
		Summary: "print a topic's records decoded through the registry",
		Usage:   "--brokers B --topic T [flags]",
		Help: `Prints each record of a topic as one line of JSON: topic, partition,
offset, timestamp, headers, and key and value — framed Avro, Protobuf or
JSON Schema records decoded through the registry (with their schema ids) and
shown as relaxed Extended JSON; plain JSON as it is; anything else as
base64. Reads from the end of the topic unless --from-beginning; stops after
-n records, or on SIGINT.`,
		Setup: func(fs *flag.FlagSet) cli.RunFunc {
			kafka := defineKafkaFlags(fs)
			topic := fs.String("topic", "", "`topic` to read; required")
			regURL := fs.String("registry", "", "registry `URL` for framed records")
			fromStart := fs.Bool("from-beginning", false, "read from the start of the topic")
			n := fs.Int("n", 0, "stop after `N` records; 0 for never")
			return func(ctx context.Context, env *cli.Env, args []string) error {
				if len(args) > 0 || *topic == "" {
					return cli.Usagef("consume needs --topic and takes no arguments")
				}
				var reg decode.Registry
				if *regURL != "" {
					c, err := registry.NewClient(*regURL, registry.ClientOptions{})
					if err != nil {
						return cli.Usagef("--registry: %v", err)
					}
					reg = c
				}
				start := kgo.NewOffset().AtEnd()
				if *fromStart {
					start = kgo.NewOffset().AtStart()
				}
				kopts, err := kafka.options(env)
				if err != nil {
					return err
				}
				cl, err := kgo.NewClient(append(kopts, kgo.ConsumeTopics(*topic), kgo.ConsumeResetOffset(start))...)
				if err != nil {
					return err
				}
				defer cl.Close()
				dec := decode.New(decode.Options{Registry: reg, PlainJSON: true})
				seen := 0
				for *n == 0 || seen < *n {
					fetches := cl.PollFetches(ctx)
					if ctx.Err() != nil {
						return nil
					}
					for _, fe := range fetches.Errors() {
						return fmt.Errorf("%s/%d: %w", fe.Topic, fe.Partition, fe.Err)
					}
					var werr error
					fetches.EachRecord(func(r *kgo.Record) {
						if werr != nil || (*n > 0 && seen >= *n) {
							return
						}
						seen++
						werr = printRecord(ctx, env.Stdout, dec, r)
					})
					if werr != nil {
						return werr
					}
				}
				return nil
			}
		},
	}
}

// printRecord writes a record as one JSON line.
func printRecord(ctx context.Context, w io.Writer, dec *decode.Decoder, r *kgo.Record) error {
	headers := map[string]string{}
	for _, h := range r.Headers {
		headers[h.Key] = string(h.Value)
	}
	out := struct {
		Topic         string            `json:"topic"`
		Partition     int32             `json:"partition"`
		Offset        int64             `json:"offset"`
		Timestamp     time.Time         `json:"timestamp"`
		Headers       map[string]string `json:"headers,omitempty"`
		KeySchemaID   uint32            `json:"keySchemaId,omitempty"`
		Key           json.RawMessage   `json:"key"`
		ValueSchemaID uint32            `json:"valueSchemaId,omitempty"`
		Value         json.RawMessage   `json:"value"`
	}{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Timestamp: r.Timestamp.UTC(), Headers: headers}
	out.KeySchemaID, out.Key = show(ctx, dec, r.Key)
	out.ValueSchemaID, out.Value = show(ctx, dec, r.Value)
	line, err := json.Marshal(out)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", line)
	return err
}

// show renders a key or value: decoded when possible, else base64, with
// the schema id of a framed one.
func show(ctx context.Context, dec *decode.Decoder, b []byte) (uint32, json.RawMessage) {
	if b == nil {
		return 0, json.RawMessage("null")
	}
	var id uint32
	if fid, _, err := wire.ParseHeader(b); err == nil {
		id = fid
	}
	doc, err := dec.Decode(ctx, b)
	if err == nil {
		if text, err := bson.MarshalExtJSON(doc, false, false); err == nil {
			return id, text
		}
	}
	if json.Valid(b) {
		return 0, b
	}
	q, _ := json.Marshal(map[string]string{"$base64": base64.StdEncoding.EncodeToString(b), "error": errString(err)})
	return id, q
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// NewProduce returns the produce command.
func NewProduce() *cli.Command {
	return &cli.Command{
		Name:    "produce",
		Summary: "produce Extended JSON lines as framed records",
		Usage:   "--brokers B --topic T --registry URL --subject S --schema FILE [FILE ...]",
		Help: `Reads Extended JSON documents (one per line, or a JSON array) from the
files or standard input, encodes each with the schema — registered under
--subject if it is not yet, else looked up — and produces them to the topic in
the Confluent wire format. --key-field takes each record's key from a field
(as canonical Extended JSON); without it records have no key. A document the
schema cannot carry stops the command with its file:line; the records before
it were produced.`,
		Setup: func(fs *flag.FlagSet) cli.RunFunc {
			kafka := defineKafkaFlags(fs)
			topic := fs.String("topic", "", "`topic` to produce to; required")
			regURL := fs.String("registry", "http://127.0.0.1:8081", "registry `URL`")
			subject := fs.String("subject", "", "`subject` of the schema; default TOPIC-value")
			schemaFile := fs.String("schema", "", "schema `file`, .avsc or .proto; required")
			keyField := fs.String("key-field", "", "`field` whose value is the record key")
			return func(ctx context.Context, env *cli.Env, args []string) error {
				if *topic == "" || *schemaFile == "" {
					return cli.Usagef("produce needs --topic and --schema")
				}
				if *subject == "" {
					*subject = *topic + "-value"
				}
				text, err := os.ReadFile(env.Path(*schemaFile))
				if err != nil {
					return err
				}
				format, schemaType := schemas.Avro, registry.TypeAvro
				if strings.EqualFold(filepath.Ext(*schemaFile), ".proto") {
					format, schemaType = schemas.Protobuf, registry.TypeProtobuf
				}
				reg, err := registry.NewClient(*regURL, registry.ClientOptions{})
				if err != nil {
					return cli.Usagef("--registry: %v", err)
				}
				req := registry.RegisterRequest{Schema: string(text), SchemaType: schemaType}
				if format == schemas.Avro {
					req.SchemaType = ""
				}
				id, err := reg.Register(ctx, *subject, req, false)
				if err != nil {
					return fmt.Errorf("subject %s: %w", *subject, err)
				}
				codec, err := serde.New(text, serde.Options{Format: format, ID: uint32(id), Name: filepath.Base(*schemaFile)})
				if err != nil {
					return fmt.Errorf("%s: %w", *schemaFile, err)
				}
				kopts, err := kafka.options(env)
				if err != nil {
					return err
				}
				cl, err := kgo.NewClient(append(kopts, kgo.AllowAutoTopicCreation())...)
				if err != nil {
					return err
				}
				defer cl.Close()
				produced := 0
				flush := func(batch []*kgo.Record) error {
					if err := cl.ProduceSync(ctx, batch...).FirstErr(); err != nil {
						return fmt.Errorf("produce to %s: %w", *topic, err)
					}
					produced += len(batch)
					return nil
				}
				var batch []*kgo.Record
				err = cli.OpenInputs(env, args, func(name string, r io.Reader) error {
					return extjson.Read(r, name, func(doc bson.Raw, line int) error {
						value, err := codec.Encode(nil, doc)
						if err != nil {
							return fmt.Errorf("%s:%d: %w", name, line, err)
						}
						rec := &kgo.Record{Topic: *topic, Value: value}
						if *keyField != "" {
							v, err := doc.LookupErr(strings.Split(*keyField, ".")...)
							if err != nil {
								return fmt.Errorf("%s:%d: no key field %s", name, line, *keyField)
							}
							key, err := bson.MarshalExtJSON(bson.D{{Key: "k", Value: v}}, true, false)
							if err != nil {
								return fmt.Errorf("%s:%d: key: %w", name, line, err)
							}
							rec.Key = key[len(`{"k":`) : len(key)-1]
						}
						batch = append(batch, rec)
						if len(batch) == 500 {
							err := flush(batch)
							batch = nil
							return err
						}
						return nil
					})
				})
				if ferr := flush(batch); err == nil {
					err = ferr
				}
				fmt.Fprintf(env.Stderr, "produced %d records to %s (subject %s, schema id %d)\n", produced, *topic, *subject, id)
				var ee *extjson.Error
				if errors.As(err, &ee) {
					return ee
				}
				return err
			}
		},
	}
}
