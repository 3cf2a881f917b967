package registrycmd

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/twmb/franz-go/pkg/kgo"
	"gopkg.in/yaml.v3"

	"github.com/schemaflow/schemaflow/cmd/schemaflow/internal/cli"
	"github.com/schemaflow/schemaflow/processor/kafkaopt"
	"github.com/schemaflow/schemaflow/processor/spec"
)

// kafkaFlags are serve's flags for the Kafka store's connection: the same
// SASL and TLS options as a pipeline's kafka block, as flags or as that
// block in a file.
type kafkaFlags struct {
	config                  *string
	mechanism, user, passwd *string
	useTLS                  *bool
	ca, cert, key           *string
}

func defineKafkaFlags(fs *flag.FlagSet) kafkaFlags {
	return kafkaFlags{
		config:    fs.String("kafka-config", "", "YAML `file` with a kafka block as in a pipeline spec (brokers, client_id, sasl, tls) for the kafka store"),
		mechanism: fs.String("kafka-sasl-mechanism", "", "kafka store SASL `mechanism`: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512"),
		user:      fs.String("kafka-sasl-user", "", "kafka store SASL `user`"),
		passwd:    fs.String("kafka-sasl-password", "", "kafka store SASL `password`; default $SCHEMAFLOW_SASL_PASSWORD"),
		useTLS:    fs.Bool("kafka-tls", false, "connect to the kafka store's brokers with TLS (the system's roots unless --kafka-tls-ca)"),
		ca:        fs.String("kafka-tls-ca", "", "PEM `file` of roots to trust for the kafka store; implies --kafka-tls"),
		cert:      fs.String("kafka-tls-cert", "", "client certificate `file` for mutual TLS to the kafka store; implies --kafka-tls"),
		key:       fs.String("kafka-tls-key", "", "client key `file` for --kafka-tls-cert"),
	}
}

// kafkaFile is a --kafka-config file.
type kafkaFile struct {
	Kafka spec.Kafka `yaml:"kafka"`
}

// used reports whether any flag of the group was given.
func (k kafkaFlags) used() bool {
	return *k.config != "" || *k.mechanism != "" || *k.user != "" || *k.passwd != "" || *k.useTLS || *k.ca != "" || *k.cert != "" || *k.key != ""
}

// block returns the kafka block the flags describe and the function that
// resolves its files. Flags override the file's settings.
func (k kafkaFlags) block(env *cli.Env) (spec.Kafka, func(string) string, error) {
	kb := spec.Kafka{ClientID: "schemaflow-registry"}
	resolve := env.Path
	if *k.config != "" {
		path := env.Path(*k.config)
		b, err := os.ReadFile(path)
		if err != nil {
			return kb, nil, fmt.Errorf("--kafka-config: %w", err)
		}
		var f kafkaFile
		dec := yaml.NewDecoder(bytes.NewReader(b))
		dec.KnownFields(true)
		if err := dec.Decode(&f); err != nil {
			return kb, nil, cli.Usagef("--kafka-config %s: %v", *k.config, err)
		}
		if f.Kafka.ClientID == "" {
			f.Kafka.ClientID = kb.ClientID
		}
		kb = f.Kafka
		dir := filepath.Dir(path)
		resolve = func(p string) string {
			if p == "" || filepath.IsAbs(p) {
				return p
			}
			return filepath.Join(dir, p)
		}
	}
	if *k.mechanism != "" || *k.user != "" || *k.passwd != "" {
		sasl := spec.SASL{}
		if kb.SASL != nil {
			sasl = *kb.SASL
		}
		if *k.mechanism != "" {
			sasl.Mechanism = *k.mechanism
		}
		if *k.user != "" {
			sasl.Username = *k.user
		}
		if *k.passwd != "" {
			sasl.Password = *k.passwd
		}
		kb.SASL = &sasl
	}
	if kb.SASL != nil && kb.SASL.Password == "" {
		kb.SASL.Password = env.Getenv("SCHEMAFLOW_SASL_PASSWORD")
	}
	if kb.SASL != nil && (kb.SASL.Mechanism == "" || kb.SASL.Username == "" || kb.SASL.Password == "") {
		return kb, nil, cli.Usagef("kafka store SASL needs a mechanism, a user and a password (--kafka-sasl-password or $SCHEMAFLOW_SASL_PASSWORD)")
	}
	if *k.useTLS || *k.ca != "" || *k.cert != "" || *k.key != "" {
		if kb.TLS == nil {
			kb.TLS = &spec.TLS{}
		}
		// Flag paths are relative to the working directory, not the file.
		flagPath := func(p string) string {
			if abs, err := filepath.Abs(env.Path(p)); err == nil {
				return abs
			}
			return env.Path(p)
		}
		if *k.ca != "" {
			kb.TLS.CAFile = flagPath(*k.ca)
		}
		if *k.cert != "" {
			kb.TLS.CertFile = flagPath(*k.cert)
		}
		if *k.key != "" {
			kb.TLS.KeyFile = flagPath(*k.key)
		}
	}
	if t := kb.TLS; t != nil && (t.CertFile == "") != (t.KeyFile == "") {
		return kb, nil, cli.Usagef("a kafka store client certificate needs both a cert and a key file")
	}
	return kb, resolve, nil
}

// options returns the franz-go options of the Kafka store's connection,
// and the brokers a --kafka-config file names.
func (k kafkaFlags) options(env *cli.Env) ([]kgo.Opt, []string, error) {
	kb, resolve, err := k.block(env)
	if err != nil {
		return nil, nil, err
	}
	opts, err := kafkaopt.Options(kb, resolve)
	if err != nil {
		return nil, nil, cli.Usagef("kafka store: %v", err)
	}
	return opts, kb.Brokers, nil
}
