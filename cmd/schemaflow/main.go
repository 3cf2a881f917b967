// Command schemaflow moves MongoDB data through Kafka with inferred,
// evolving, registry-managed schemas. Run `schemaflow --help` for the
// commands.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/schemaflow/schemaflow/cmd/schemaflow/internal/cli"
	"github.com/schemaflow/schemaflow/cmd/schemaflow/internal/command/checkcmd"
	"github.com/schemaflow/schemaflow/cmd/schemaflow/internal/command/codeccmd"
	"github.com/schemaflow/schemaflow/cmd/schemaflow/internal/command/compatcmd"
	"github.com/schemaflow/schemaflow/cmd/schemaflow/internal/command/consolecmd"
	"github.com/schemaflow/schemaflow/cmd/schemaflow/internal/command/devcmd"
	"github.com/schemaflow/schemaflow/cmd/schemaflow/internal/command/dlqcmd"
	"github.com/schemaflow/schemaflow/cmd/schemaflow/internal/command/evolvecmd"
	"github.com/schemaflow/schemaflow/cmd/schemaflow/internal/command/infercmd"
	"github.com/schemaflow/schemaflow/cmd/schemaflow/internal/command/registrycmd"
	"github.com/schemaflow/schemaflow/cmd/schemaflow/internal/command/runcmd"
	"github.com/schemaflow/schemaflow/cmd/schemaflow/internal/command/versioncmd"
)

// Set by the linker: -X main.version=... -X main.commit=...
var (
	version string
	commit  string
)

// Root returns the command tree.
func Root(info versioncmd.Info) *cli.Command {
	return &cli.Command{
		Name:    "schemaflow",
		Summary: "MongoDB and Kafka with inferred, evolving, registry-managed schemas",
		Subcommands: []*cli.Command{
			runcmd.New(),
			runcmd.NewValidate(),
			runcmd.NewSnapshot(),
			devcmd.New(),
			consolecmd.NewConsume(),
			consolecmd.NewProduce(),
			dlqcmd.New(),
			infercmd.New(),
			evolvecmd.New(),
			codeccmd.NewEncode(),
			codeccmd.NewDecode(),
			compatcmd.New(),
			checkcmd.New(),
			registrycmd.New(),
			versioncmd.New(info),
		},
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, Root(versioncmd.Info{Version: version, Commit: commit}), os.Args[1:], cli.OSEnv())
	stop()
	os.Exit(code)
}
