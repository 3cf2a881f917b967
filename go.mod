module github.com/schemaflow/schemaflow

go 1.26.0

require (
	github.com/bufbuild/protocompile v0.14.1
	github.com/linkedin/goavro/v2 v2.15.0
	github.com/riferrei/srclient v0.7.4
	github.com/santhosh-tekuri/jsonschema/v5 v5.3.1
	go.mongodb.org/mongo-driver v1.17.10
	golang.org/x/crypto v0.58.0
	google.golang.org/protobuf v1.36.12
	gopkg.in/yaml.v3 v3.0.1
)

require (
	github.com/golang/snappy v1.0.0 // indirect
	golang.org/x/sync v0.8.0 // indirect
)
