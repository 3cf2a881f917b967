package kafkaopt

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/schemaflow/schemaflow/processor/spec"
)

// writeCA writes a self-signed certificate's PEM into dir and returns its
// file name.
func writeCA(t *testing.T, dir string) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "ca.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return "ca.pem"
}

func TestOptions(t *testing.T) {
	dir := t.TempDir()
	ca := writeCA(t, dir)
	if err := os.WriteFile(filepath.Join(dir, "junk.pem"), []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	inDir := func(p string) string { return filepath.Join(dir, p) }
	for _, tc := range []struct {
		name    string
		kafka   spec.Kafka
		resolve func(string) string
		opts    int // how many options
		wantErr string
	}{
		{"defaults", spec.Kafka{}, nil, 1, ""},
		{"client id", spec.Kafka{ClientID: "mine"}, nil, 1, ""},
		{"plain", spec.Kafka{SASL: &spec.SASL{Mechanism: "PLAIN", Username: "u", Password: "p"}}, nil, 2, ""},
		{"scram 256", spec.Kafka{SASL: &spec.SASL{Mechanism: "SCRAM-SHA-256", Username: "u", Password: "p"}}, nil, 2, ""},
		{"scram 512", spec.Kafka{SASL: &spec.SASL{Mechanism: "SCRAM-SHA-512", Username: "u", Password: "p"}}, nil, 2, ""},
		{"unknown mechanism", spec.Kafka{SASL: &spec.SASL{Mechanism: "GSSAPI"}}, nil, 0, `kafka.sasl.mechanism "GSSAPI": want PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512`},
		{"tls, system roots", spec.Kafka{TLS: &spec.TLS{}}, nil, 2, ""},
		{"tls, a CA resolved", spec.Kafka{TLS: &spec.TLS{CAFile: ca}}, inDir, 2, ""},
		{"tls, a CA not resolved", spec.Kafka{TLS: &spec.TLS{CAFile: ca}}, nil, 0, "kafka.tls: ca_file: open ca.pem"},
		{"tls, no PEM", spec.Kafka{TLS: &spec.TLS{CAFile: "junk.pem"}}, inDir, 0, "kafka.tls: ca_file junk.pem: no PEM certificates"},
		{"tls, missing key pair", spec.Kafka{TLS: &spec.TLS{CertFile: "c.pem", KeyFile: "k.pem"}}, inDir, 0, "kafka.tls: cert_file, key_file: open"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts, err := Options(tc.kafka, tc.resolve)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || len(opts) != tc.opts {
				t.Fatalf("%d options, %v; want %d", len(opts), err, tc.opts)
			}
			cl, err := kgo.NewClient(append(opts, kgo.SeedBrokers("127.0.0.1:1"))...)
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			wantID := tc.kafka.ClientID
			if wantID == "" {
				wantID = DefaultClientID
			}
			if got := cl.OptValue(kgo.ClientID); got != wantID {
				t.Errorf("client id %v, want %s", got, wantID)
			}
			if got := cl.OptValue(kgo.DialTLSConfig); (got != nil && got.(*tls.Config) != nil) != (tc.kafka.TLS != nil) {
				t.Errorf("TLS config %v with tls block %v", got, tc.kafka.TLS)
			}
		})
	}
}

func TestTLSConfig(t *testing.T) {
	dir := t.TempDir()
	ca := writeCA(t, dir)
	cfg, err := TLSConfig(&spec.TLS{CAFile: filepath.Join(dir, ca), ServerName: "kafka.internal"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.MinVersion != 0x0303 || cfg.ServerName != "kafka.internal" || cfg.RootCAs == nil || cfg.InsecureSkipVerify {
		t.Errorf("config %+v", cfg)
	}
}
