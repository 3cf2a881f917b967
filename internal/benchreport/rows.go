package main

// Row is one line of the README's table: a measure, its limit beside it,
// and their ratio. Bench is a regular expression on the benchmark's full
// name (sub-benchmarks included) in the package whose import path ends
// with Pkg; each matching result gives a row, $1 of Title naming its
// first group.
type Row struct {
	Group, Title string
	Pkg, Bench   string
	// Figure is the unit of the measure.
	Figure string
	// Limit is what the figure is held against.
	Limit Limit
	// Ratio is the unit of a ratio the benchmark reports itself: "%..."
	// or "..._%" units are percentages of the limit, "x-..." units are
	// multiples of it. Empty: Figure over the limit, as a percentage.
	Ratio string
	// Goal is the ratio, in percent, the issue asks for; Lower says the
	// figure must stay under it (memory), else it must reach it.
	Goal  float64
	Lower bool
}

// Limit is a row's limit: a metric of the same result (Units: the
// smallest one reported), the largest Units[0] of the package's
// benchmarks matching Bench (a regular expression; $1... are the
// figure's groups), a constant, the figure over a reported multiple
// (FromRatio), or none (no Units).
type Limit struct {
	Label     string
	Units     []string
	Bench     string
	Const     float64
	ConstUnit string
	FromRatio bool
}

// rows are the README's measures. A row whose benchmark is not in the
// run is listed as missing, so a renamed benchmark shows.
var rows = []Row{
	{Group: "Codec", Title: "Avro encode, BSON → Avro, $1", Pkg: "schemas/avro", Bench: `^BenchmarkCompareEncode/(.+)$`,
		Figure: "docs/s", Ratio: "x-goavro", Limit: Limit{Label: "goavro BinaryFromNative", FromRatio: true}},
	{Group: "Codec", Title: "Avro decode, Avro → BSON, $1", Pkg: "schemas/avro", Bench: `^BenchmarkCompareDecode/(.+)$`,
		Figure: "docs/s", Ratio: "x-goavro", Limit: Limit{Label: "goavro NativeFromBinary", FromRatio: true}},
	{Group: "Codec", Title: "Protobuf encode, BSON → Protobuf, $1", Pkg: "schemas/protobuf", Bench: `^BenchmarkCompareEncode/(.+)$`,
		Figure: "docs/s", Ratio: "x-dynamicpb", Limit: Limit{Label: "dynamicpb Marshal", FromRatio: true}},
	{Group: "Codec", Title: "Protobuf decode, Protobuf → BSON, $1", Pkg: "schemas/protobuf", Bench: `^BenchmarkCompareDecode/(.+)$`,
		Figure: "docs/s", Ratio: "x-dynamicpb", Limit: Limit{Label: "dynamicpb Unmarshal", FromRatio: true}},

	{Group: "Source", Title: "(a) pipeline CPU: fake change stream → kfake", Pkg: "processor/mongosource", Bench: `^BenchmarkSourceEndToEnd$`,
		Figure: "records/s", Limit: Limit{Label: "kfake produce of the same records", Bench: `^BenchmarkProduceLimit$`, Units: []string{"records/s"}}},
	{Group: "Source", Title: "(b) end to end: lungo change stream → kfake", Pkg: "processor/mongosource", Bench: `^BenchmarkChangeStreamVsLimit$`,
		Figure: "source_docs/s", Ratio: "source/limit_%", Limit: Limit{Label: "lungo's raw change-stream read of the same writes", Units: []string{"stream_read_docs/s"}}},
	{Group: "Source", Title: "copy of existing documents, $1", Pkg: "processor/mongosource", Bench: `^BenchmarkCopyVsLimit/(.+)$`,
		Figure: "copy_docs/s", Ratio: "copy/limit_%", Limit: Limit{Label: "slower of find and produce", Units: []string{"find_docs/s", "produce_records/s"}}},

	{Group: "Sink", Title: "(a) discarding target", Pkg: "processor/mongosink", Bench: `^BenchmarkSinkDiscard$`,
		Figure: "docs/s", Ratio: "%limit", Goal: 50, Limit: Limit{Label: "raw franz-go consumer", Units: []string{"limit-docs/s"}}},
	{Group: "Sink", Title: "(b) lungo memory store, $1", Pkg: "processor/mongosink", Bench: `^BenchmarkSinkLungo/(.+)$`,
		Figure: "docs/s", Ratio: "%limit", Goal: 85, Limit: Limit{Label: "raw bulk writes", Units: []string{"limit-docs/s"}}},
	{Group: "Sink", Title: "(b) FerretDB on SQLite, $1", Pkg: "processor/mongosink", Bench: `^BenchmarkSinkFerretDB/(.+)$`,
		Figure: "docs/s", Ratio: "%limit", Goal: 85, Limit: Limit{Label: "raw bulk writes", Units: []string{"limit-docs/s"}}},
	{Group: "Sink", Title: "replace upserts, $1, fixed batch of $2", Pkg: "processor/mongosink", Bench: `^BenchmarkReplaceBatch/(.+)/fixed-(\d+)$`,
		Figure: "docs/s"},
	{Group: "Sink", Title: "replace upserts, $1, adaptive batch", Pkg: "processor/mongosink", Bench: `^BenchmarkReplaceBatch/(.+)/adaptive$`,
		Figure: "docs/s", Limit: Limit{Label: "best fixed batch", Bench: `^BenchmarkReplaceBatch/$1/fixed-\d+$`, Units: []string{"docs/s"}}},

	// Issue 14's goal is measured on the real binary under wrk (an
	// external client); the net engine's rows set it beside the fasthttp
	// engine of the same run.
	{Group: "Registry", Title: "`registry serve`, $1 engine, wrk -t2 -c64: by id (GET /schemas/ids/N)", Pkg: "registry/server/bench", Bench: `^BenchmarkWrk/engine=(fasthttp)/ids/t2$`,
		Figure: "req/s", Goal: 100, Limit: Limit{Label: "issue 14's goal", Const: 50000, ConstUnit: "req/s"}},
	{Group: "Registry", Title: "`registry serve`, $1 engine, wrk -t2 -c64: lookup (POST /subjects/S)", Pkg: "registry/server/bench", Bench: `^BenchmarkWrk/engine=(fasthttp)/lookup/t2$`,
		Figure: "req/s", Goal: 100, Limit: Limit{Label: "issue 14's goal", Const: 50000, ConstUnit: "req/s"}},
	{Group: "Registry", Title: "`registry serve`, $1 engine, wrk -t2 -c64: by id (GET /schemas/ids/N)", Pkg: "registry/server/bench", Bench: `^BenchmarkWrk/engine=(net)/ids/t2$`,
		Figure: "req/s", Limit: Limit{Label: "fasthttp engine", Bench: `^BenchmarkWrk/engine=fasthttp/ids/t2$`, Units: []string{"req/s"}}},
	{Group: "Registry", Title: "`registry serve`, $1 engine, wrk -t2 -c64: lookup (POST /subjects/S)", Pkg: "registry/server/bench", Bench: `^BenchmarkWrk/engine=(net)/lookup/t2$`,
		Figure: "req/s", Limit: Limit{Label: "fasthttp engine", Bench: `^BenchmarkWrk/engine=fasthttp/lookup/t2$`, Units: []string{"req/s"}}},
	{Group: "Registry", Title: "lookup by id, Go client in the same process (net/http)", Pkg: "registry/server", Bench: `^BenchmarkGetSchemaByID$`,
		Figure: "req/s", Limit: Limit{Label: "issue 14's goal, measured with wrk above", Const: 50000, ConstUnit: "req/s"}},
	{Group: "Registry", Title: "lookup (POST /subjects/S), Go client in the same process (net/http)", Pkg: "registry/server", Bench: `^BenchmarkLookup$`,
		Figure: "req/s", Limit: Limit{Label: "issue 14's goal, measured with wrk above", Const: 50000, ConstUnit: "req/s"}},

	{Group: "Memory", Title: "soak: `schemaflow run`, 10 pipelines, peak RSS", Pkg: "cmd/schemaflow", Bench: `^BenchmarkSoak$`,
		Figure: "peak-RSS-MB", Goal: 100, Lower: true, Limit: Limit{Label: "issue 16's bound", Const: 100, ConstUnit: "MB"}},
	{Group: "Memory", Title: "soak with a backlog (20,000 records per sink at the start): `schemaflow run`, 10 pipelines, peak RSS", Pkg: "cmd/schemaflow", Bench: `^BenchmarkSoakBacklog$`,
		Figure: "peak-RSS-MB", Goal: 100, Lower: true, Limit: Limit{Label: "issue 16's bound", Const: 100, ConstUnit: "MB"}},
}
