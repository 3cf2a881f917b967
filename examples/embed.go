// Package examples holds the example specs and documents of schemaflow.
// The quickstart spec is embedded in the binary, so that `schemaflow dev`
// runs it from any directory, also from a binary installed with go
// install. (The demo's orders are written by processor/demo, in the
// binary too.)
package examples

import _ "embed"

// QuickstartPath is the quickstart spec's path in the repository, which
// names the embedded copy in messages.
const QuickstartPath = "examples/quickstart.yaml"

// Quickstart is the text of examples/quickstart.yaml.
//
//go:embed quickstart.yaml
var Quickstart []byte
