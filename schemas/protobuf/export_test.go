package protobuf

import (
	"fmt"

	"go.mongodb.org/mongo-driver/bson"
)

// OraclePanic is the error of an oracle call that panicked: the dynamicpb
// decoder panics on a map key holding NUL (bsoncore refuses the key).
type OraclePanic struct{ Value any }

func (e *OraclePanic) Error() string { return fmt.Sprintf("oracle panicked: %v", e.Value) }

// OracleEncode encodes doc with the dynamicpb codec the direct one
// replaced (oracle_test.go), under the options of c.
func OracleEncode(c *Codec, dst []byte, doc bson.Raw) (out []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			out, err = dst, &OraclePanic{r}
		}
	}()
	return newOracle(c.md, c.exactNumbers).encode(dst, doc)
}

// OracleDecode decodes data with the dynamicpb codec the direct one
// replaced.
func OracleDecode(c *Codec, data []byte) (doc bson.Raw, err error) {
	defer func() {
		if r := recover(); r != nil {
			doc, err = nil, &OraclePanic{r}
		}
	}()
	return newOracle(c.md, c.exactNumbers).decode(data)
}
