// Package cli is the command-line framework of schemaflow: a tree of
// commands, flag parsing that allows flags anywhere among the arguments,
// help text for every command, and exit codes. Commands get their standard
// streams and environment from an Env, so tests run them in process.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

// Exit codes.
const (
	ExitOK    = 0
	ExitError = 1
	ExitUsage = 2
)

// Env is what a command may touch of the outside world.
type Env struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	// Getenv reads an environment variable.
	Getenv func(string) string
	// Dir is the working directory that relative paths are resolved
	// against; empty means the process's.
	Dir string
}

// OSEnv returns the process's real environment.
func OSEnv() *Env {
	return &Env{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv}
}

// RunFunc runs a command with its positional arguments.
type RunFunc func(ctx context.Context, env *Env, args []string) error

// Command is one command of the tree. A command has either Subcommands or
// Setup.
type Command struct {
	Name    string
	Summary string // one line, lower case, no period
	Usage   string // arguments after the command path, e.g. "[flags] [FILE ...]"
	Help    string // paragraphs shown by --help
	// Setup defines the command's flags on fs and returns the function that
	// runs the command once the flags are parsed.
	Setup       func(fs *flag.FlagSet) RunFunc
	Subcommands []*Command
}

// ExitCodeError makes Main exit with Code. If Err is nil nothing is printed:
// the command already said what it had to.
type ExitCodeError struct {
	Code int
	Err  error
}

// Error implements error.
func (e *ExitCodeError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("exit code %d", e.Code)
	}
	return e.Err.Error()
}

// Unwrap returns the underlying error.
func (e *ExitCodeError) Unwrap() error { return e.Err }

// UsageError reports bad arguments; Main prints it with a hint and exits 2.
type UsageError struct{ Msg string }

// Error implements error.
func (e *UsageError) Error() string { return e.Msg }

// Usagef returns a *UsageError.
func Usagef(format string, args ...any) error { return &UsageError{Msg: fmt.Sprintf(format, args...)} }

// Main runs the command tree rooted at root with args (without the program
// name) and returns the exit code.
func Main(ctx context.Context, root *Command, args []string, env *Env) int {
	cmd, pathNames, rest := resolve(root, args)
	cmdPath := strings.Join(pathNames, " ")
	if cmd.Setup == nil {
		// A group: print its help, or complain about the subcommand.
		if len(rest) == 0 || isHelp(rest[0]) {
			printGroupHelp(env.Stdout, cmd, cmdPath)
			return ExitOK
		}
		fmt.Fprintf(env.Stderr, "%s: unknown command %q\nRun '%s --help' for the list of commands.\n", cmdPath, rest[0], cmdPath)
		return ExitUsage
	}
	fs := flag.NewFlagSet(cmdPath, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	run := cmd.Setup(fs)
	positional, err := parseInterspersed(fs, rest)
	if errors.Is(err, flag.ErrHelp) {
		printCommandHelp(env.Stdout, cmd, cmdPath, fs)
		return ExitOK
	}
	if err != nil {
		fmt.Fprintf(env.Stderr, "%s: %v\nRun '%s --help' for usage.\n", cmdPath, err, cmdPath)
		return ExitUsage
	}
	err = run(ctx, env, positional)
	if err == nil {
		return ExitOK
	}
	var ue *UsageError
	if errors.As(err, &ue) {
		fmt.Fprintf(env.Stderr, "%s: %s\nRun '%s --help' for usage.\n", cmdPath, ue.Msg, cmdPath)
		return ExitUsage
	}
	var ec *ExitCodeError
	if errors.As(err, &ec) {
		if ec.Err != nil {
			fmt.Fprintf(env.Stderr, "%s: %v\n", cmdPath, ec.Err)
		}
		return ec.Code
	}
	fmt.Fprintf(env.Stderr, "%s: %v\n", cmdPath, err)
	return ExitError
}

func isHelp(s string) bool { return s == "-h" || s == "--help" || s == "-help" || s == "help" }

// resolve walks subcommand names down the tree.
func resolve(root *Command, args []string) (*Command, []string, []string) {
	cmd, names := root, []string{root.Name}
	for len(args) > 0 && cmd.Setup == nil {
		var next *Command
		for _, sub := range cmd.Subcommands {
			if sub.Name == args[0] {
				next = sub
			}
		}
		if next == nil {
			break
		}
		cmd, names, args = next, append(names, next.Name), args[1:]
	}
	return cmd, names, args
}

// parseInterspersed parses flags wherever they stand among the arguments;
// everything after "--" is positional.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		consumed := len(args) - len(rest)
		if consumed > 0 && args[consumed-1] == "--" {
			return append(positional, rest...), nil
		}
		if len(rest) == 0 {
			return positional, nil
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
}

func printGroupHelp(w io.Writer, cmd *Command, cmdPath string) {
	fmt.Fprintf(w, "%s - %s\n\nUsage:\n  %s COMMAND [flags] [args]\n", cmdPath, cmd.Summary, cmdPath)
	if cmd.Help != "" {
		fmt.Fprintf(w, "\n%s\n", strings.TrimSpace(cmd.Help))
	}
	fmt.Fprintf(w, "\nCommands:\n")
	subs := append([]*Command(nil), cmd.Subcommands...)
	sort.Slice(subs, func(i, j int) bool { return subs[i].Name < subs[j].Name })
	width := 0
	for _, s := range subs {
		width = max(width, len(s.Name))
	}
	for _, s := range subs {
		fmt.Fprintf(w, "  %-*s  %s\n", width, s.Name, s.Summary)
	}
	fmt.Fprintf(w, "\nRun '%s COMMAND --help' for a command's flags.\n", cmdPath)
}

func printCommandHelp(w io.Writer, cmd *Command, cmdPath string, fs *flag.FlagSet) {
	fmt.Fprintf(w, "%s - %s\n\nUsage:\n  %s %s\n", cmdPath, cmd.Summary, cmdPath, cmd.Usage)
	if cmd.Help != "" {
		fmt.Fprintf(w, "\n%s\n", strings.TrimSpace(cmd.Help))
	}
	var lines [][2]string
	fs.VisitAll(func(f *flag.Flag) {
		name, usage := flag.UnquoteUsage(f)
		head := "--" + f.Name
		if len(f.Name) == 1 {
			head = "-" + f.Name // -f, -n: written as users type them
		}
		if name != "" {
			head += " " + strings.ToUpper(name)
		}
		if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" {
			usage += fmt.Sprintf(" (default %s)", f.DefValue)
		}
		lines = append(lines, [2]string{head, usage})
	})
	if len(lines) == 0 {
		return
	}
	width := 0
	for _, l := range lines {
		width = max(width, len(l[0]))
	}
	fmt.Fprintf(w, "\nFlags:\n")
	for _, l := range lines {
		fmt.Fprintf(w, "  %-*s  %s\n", width, l[0], l[1])
	}
}

// OpenInputs calls fn for each named input, or for standard input when
// names is empty; "-" names standard input. The name passed to fn is the
// path as given, or "<stdin>".
func OpenInputs(env *Env, names []string, fn func(name string, r io.Reader) error) error {
	if len(names) == 0 {
		names = []string{"-"}
	}
	for _, n := range names {
		if n == "-" {
			if err := fn("<stdin>", env.Stdin); err != nil {
				return err
			}
			continue
		}
		f, err := os.Open(env.Path(n))
		if err != nil {
			return err
		}
		err = fn(n, f)
		f.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

// Path resolves a path given on the command line against env.Dir.
func (env *Env) Path(p string) string {
	if env.Dir == "" || p == "" || strings.HasPrefix(p, "/") {
		return p
	}
	return env.Dir + string(os.PathSeparator) + p
}
