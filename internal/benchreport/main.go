// Command benchreport turns the output of `make bench` into the README's
// performance section: every measure with its limit beside it and their
// ratio, the soak's RSS curve, what is missing or failed, and the machine
// the run was on.
//
//	go run ./internal/benchreport -in bench.out -readme README.md
//
// It prints the section and replaces what lies between <!-- bench:start -->
// and <!-- bench:end --> in the README with it; -readme "" only prints.
// The machine comes from the run's own lines: go test's "cpu:", and the
// "date:", "go:", "cores:" and "commit:" lines make bench writes first.
// Which benchmark measures what, and against which limit, is the rows
// table (rows.go).
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "benchreport:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("benchreport", flag.ContinueOnError)
	in := fs.String("in", "bench.out", "the output of make bench")
	readme := fs.String("readme", "README.md", `the README to update between the markers; "" only prints the section`)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	f, err := os.Open(*in)
	if err != nil {
		return err
	}
	defer f.Close()
	r, err := Parse(f, *in)
	if err != nil {
		return err
	}
	section, err := Render(r, rows)
	if err != nil {
		return err
	}
	if _, err := io.WriteString(stdout, section); err != nil || *readme == "" {
		return err
	}
	old, err := os.ReadFile(*readme)
	if err != nil {
		return err
	}
	updated, err := Update(string(old), section)
	if err != nil {
		return fmt.Errorf("%s: %w", *readme, err)
	}
	return os.WriteFile(*readme, []byte(updated), 0o644)
}
