// Package versioncmd implements `schemaflow version`.
package versioncmd

import (
	"context"
	"flag"
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/schemaflow/schemaflow/cmd/schemaflow/internal/cli"
)

// Info is the build's identity. Version and Commit are set by the linker
// (see the Makefile); when they are not, the commit comes from the VCS
// information the Go toolchain embeds.
type Info struct {
	Version string
	Commit  string
}

// Resolve fills what the linker left empty from the embedded build info.
func (i Info) Resolve() Info {
	if i.Version == "" {
		i.Version = "dev"
	}
	if i.Commit != "" {
		return i
	}
	i.Commit = "unknown"
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return i
	}
	modified := false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			i.Commit = s.Value
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	if modified && i.Commit != "unknown" {
		i.Commit += "-dirty"
	}
	return i
}

// New returns the version command.
func New(info Info) *cli.Command {
	return &cli.Command{
		Name:    "version",
		Summary: "print the version and the commit",
		Usage:   "",
		Setup: func(fs *flag.FlagSet) cli.RunFunc {
			return func(_ context.Context, env *cli.Env, args []string) error {
				if len(args) > 0 {
					return cli.Usagef("version takes no arguments")
				}
				i := info.Resolve()
				fmt.Fprintf(env.Stdout, "schemaflow %s\ncommit %s\n%s %s/%s\n", i.Version, i.Commit, runtime.Version(), runtime.GOOS, runtime.GOARCH)
				return nil
			}
		},
	}
}
