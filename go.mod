module github.com/schemaflow/schemaflow

go 1.26

require (
	github.com/linkedin/goavro/v2 v2.15.0
	go.mongodb.org/mongo-driver v1.17.10
)

require (
	github.com/golang/snappy v0.0.4 // indirect
	github.com/google/go-cmp v0.7.0 // indirect
	github.com/stretchr/testify v1.9.0 // indirect
)
