// Package kafkaopt turns a spec's kafka block into franz-go client
// options: client id, SASL and TLS. The daemon's pipelines, the registry's
// Kafka store and the console tools (consume, produce) build their clients
// with it.
package kafkaopt

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/schemaflow/schemaflow/processor/config"
	"github.com/schemaflow/schemaflow/processor/spec"
)

// DefaultClientID is the client id when a kafka block names none.
const DefaultClientID = "schemaflow"

// Options are the franz-go options of a kafka block: client id (default
// DefaultClientID), SASL and TLS. resolve maps the TLS files' paths (a
// spec's Resolve reads them relative to the spec; nil uses them as they
// are). Seed brokers are the caller's.
func Options(k spec.Kafka, resolve func(string) string) ([]kgo.Opt, error) {
	id := k.ClientID
	if id == "" {
		id = DefaultClientID
	}
	opts := []kgo.Opt{kgo.ClientID(id)}
	if s := k.SASL; s != nil {
		switch config.SASLMechanism(s.Mechanism) {
		case config.SASLPlain:
			opts = append(opts, kgo.SASL(plain.Auth{User: s.Username, Pass: s.Password}.AsMechanism()))
		case config.SASLScramSHA256:
			opts = append(opts, kgo.SASL(scram.Auth{User: s.Username, Pass: s.Password}.AsSha256Mechanism()))
		case config.SASLScramSHA512:
			opts = append(opts, kgo.SASL(scram.Auth{User: s.Username, Pass: s.Password}.AsSha512Mechanism()))
		default:
			return nil, fmt.Errorf("kafka.sasl.mechanism %q: want %s", s.Mechanism, config.Want(config.SASLMechanisms))
		}
	}
	if k.TLS != nil {
		cfg, err := TLSConfig(k.TLS, resolve)
		if err != nil {
			return nil, fmt.Errorf("kafka.tls: %w", err)
		}
		opts = append(opts, kgo.DialTLSConfig(cfg))
	}
	return opts, nil
}

// TLSConfig builds a client TLS configuration from a spec's tls block, at
// least TLS 1.2; resolve maps the files' paths (nil: as they are).
func TLSConfig(t *spec.TLS, resolve func(string) string) (*tls.Config, error) {
	if resolve == nil {
		resolve = func(p string) string { return p }
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: t.ServerName, InsecureSkipVerify: t.InsecureSkipVerify}
	if t.CAFile != "" {
		pem, err := os.ReadFile(resolve(t.CAFile))
		if err != nil {
			return nil, fmt.Errorf("ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ca_file %s: no PEM certificates", t.CAFile)
		}
		cfg.RootCAs = pool
	}
	if t.CertFile != "" {
		pair, err := tls.LoadX509KeyPair(resolve(t.CertFile), resolve(t.KeyFile))
		if err != nil {
			return nil, fmt.Errorf("cert_file, key_file: %w", err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg, nil
}
