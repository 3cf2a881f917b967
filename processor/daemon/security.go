package daemon

import (
	"crypto/tls"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/schemaflow/schemaflow/processor/kafkaopt"
	"github.com/schemaflow/schemaflow/processor/spec"
)

// kafkaOptions are the client options of a pipeline's kafka block: client
// id, SASL and TLS. Files are read relative to the spec.
func kafkaOptions(f *spec.File, k spec.Kafka) ([]kgo.Opt, error) {
	return kafkaopt.Options(k, f.Resolve)
}

// tlsConfig builds a client TLS configuration.
func tlsConfig(resolve func(string) string, t *spec.TLS) (*tls.Config, error) {
	return kafkaopt.TLSConfig(t, resolve)
}
