package consolecmd

import (
	"flag"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/schemaflow/schemaflow/cmd/schemaflow/internal/cli"
)

// KafkaFlags are the connection flags of the Kafka tools: --brokers, the
// SASL flags and the TLS flags, as consume and produce define them.
type KafkaFlags struct{ k kafkaFlags }

// DefineKafkaFlags adds the connection flags to fs.
func DefineKafkaFlags(fs *flag.FlagSet) KafkaFlags { return KafkaFlags{defineKafkaFlags(fs)} }

// Options are the franz-go options the flags describe: seed brokers,
// client id, SASL and TLS.
func (k KafkaFlags) Options(env *cli.Env) ([]kgo.Opt, error) { return k.k.options(env) }
