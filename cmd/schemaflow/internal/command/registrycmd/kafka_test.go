package registrycmd

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"flag"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/schemaflow/schemaflow/cmd/schemaflow/internal/cli"
	"github.com/schemaflow/schemaflow/registry/store"
)

// selfSigned writes a CA-less self-signed certificate for 127.0.0.1 to dir
// and returns the server's TLS configuration and the certificate's path.
func selfSigned(t *testing.T, dir string) (*tls.Config, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "kfake"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	path := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(path, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(certPEM, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}))
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}, path
}

// TestKafkaStoreSecurity: serve's Kafka store logs in with the pipelines'
// options, given as flags or as a kafka block in --kafka-config: SASL
// PLAIN and SCRAM against a broker that requires it, TLS with a private CA.
// Without them, or with a wrong password, opening the store fails; bad
// combinations are usage errors.
func TestKafkaStoreSecurity(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tlsCfg, caPath := selfSigned(t, dir)
	saslCluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.EnableSASL(),
		kfake.Superuser("SCRAM-SHA-256", "registry", "s3cret"), kfake.Superuser("PLAIN", "plain", "p1ain"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(saslCluster.Close)
	tlsCluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.TLS(tlsCfg))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tlsCluster.Close)
	saslAddr, tlsAddr := saslCluster.ListenAddrs()[0], tlsCluster.ListenAddrs()[0]

	writeConfig := func(name, text string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	plainConfig := writeConfig("plain.yaml", "kafka:\n  brokers: ["+saslAddr+"]\n  sasl: {mechanism: PLAIN, username: plain, password: p1ain}\n")
	tlsConfig := writeConfig("tls.yaml", "kafka:\n  brokers: ["+tlsAddr+"]\n  tls: {ca_file: ca.pem}\n")
	badConfig := writeConfig("bad.yaml", "kafka:\n  brokers: ["+saslAddr+"]\n  sasl: {mechanism: PLAIN, username: plain, password: p1ain}\n  sals: {}\n")

	for _, tc := range []struct {
		name  string
		store string
		args  []string
		env   map[string]string
		usage string // a usage error containing this
		fails bool   // opening fails (not a usage error)
	}{
		{name: "SCRAM by flags, password from the environment", store: "kafka:" + saslAddr,
			args: []string{"--kafka-sasl-mechanism", "SCRAM-SHA-256", "--kafka-sasl-user", "registry"},
			env:  map[string]string{"SCHEMAFLOW_SASL_PASSWORD": "s3cret"}},
		{name: "PLAIN from a config file", store: "kafka", args: []string{"--kafka-config", plainConfig}},
		{name: "TLS from a config file, CA relative to it", store: "kafka", args: []string{"--kafka-config", tlsConfig}},
		{name: "TLS by flags", store: "kafka:" + tlsAddr, args: []string{"--kafka-tls-ca", caPath}},
		{name: "no login", store: "kafka:" + saslAddr, fails: true},
		{name: "wrong password", store: "kafka:" + saslAddr,
			args: []string{"--kafka-sasl-mechanism", "SCRAM-SHA-256", "--kafka-sasl-user", "registry", "--kafka-sasl-password", "nope"}, fails: true},
		{name: "TLS without the CA", store: "kafka:" + tlsAddr, args: []string{"--kafka-tls"}, fails: true},
		{name: "mechanism without user", store: "kafka:" + saslAddr, args: []string{"--kafka-sasl-mechanism", "PLAIN"}, usage: "needs a mechanism, a user and a password"},
		{name: "unknown mechanism", store: "kafka:" + saslAddr, args: []string{"--kafka-sasl-mechanism", "GSSAPI", "--kafka-sasl-user", "u", "--kafka-sasl-password", "p"}, usage: "GSSAPI"},
		{name: "cert without key", store: "kafka:" + tlsAddr, args: []string{"--kafka-tls-cert", caPath}, usage: "both a cert and a key"},
		{name: "unknown key in the config file", store: "kafka", args: []string{"--kafka-config", badConfig}, usage: "sals"},
		{name: "kafka flags without the kafka store", store: "memory", args: []string{"--kafka-tls"}, usage: "--store kafka"},
		{name: "no brokers", store: "kafka", usage: "needs brokers"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			fs := flag.NewFlagSet("serve", flag.ContinueOnError)
			kf := defineKafkaFlags(fs)
			if err := fs.Parse(tc.args); err != nil {
				t.Fatal(err)
			}
			env := &cli.Env{Getenv: func(k string) string { return tc.env[k] }}
			timeout := 10 * time.Second
			if tc.fails {
				timeout = 2 * time.Second
			}
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			defer cancel()
			st, err := openStore(ctx, env, tc.store, "http://127.0.0.1:1", timeout, kf)
			var ue *cli.UsageError
			switch {
			case tc.usage != "":
				if !errors.As(err, &ue) || !strings.Contains(err.Error(), tc.usage) {
					t.Fatalf("got %v, want a usage error with %q", err, tc.usage)
				}
			case tc.fails:
				if err == nil {
					st.Close()
					t.Fatal("opened the store")
				}
				if errors.As(err, &ue) {
					t.Fatalf("a usage error for a refused login: %v", err)
				}
			default:
				if err != nil {
					t.Fatal(err)
				}
				defer st.Close()
				// The store really talks to the broker: the log loads.
				if err := st.Load(func(store.Record) error { return nil }); err != nil {
					t.Fatalf("load: %v", err)
				}
			}
		})
	}
}
