package evolution

import (
	"encoding/json"
	"os"
	"testing"

	"github.com/schemaflow/schemaflow/schemas"
)

// TestConfluentJSONVectors runs Confluent's JSON Schema diff cases. Every
// schema must validate. The rules implemented are a subset, so some changes
// Confluent rejects pass here; but a change Confluent accepts is never
// rejected, and the agreement must not fall below what it is today.
func TestConfluentJSONVectors(t *testing.T) {
	t.Parallel()
	raw, _ := os.ReadFile(conformance(t, "json-schema-provider/src/test/resources/diff-schema-examples.json"))
	var cases []struct {
		Description    string          `json:"description"`
		OriginalSchema json.RawMessage `json:"original_schema"`
		UpdateSchema   json.RawMessage `json:"update_schema"`
		Compatible     bool            `json:"compatible"`
	}
	if err := json.Unmarshal(raw, &cases); err != nil {
		t.Fatal(err)
	}
	agree, falseCompat, falseIncompat, errs := 0, 0, 0, 0
	for _, c := range cases {
		res, err := Check(Backward, Schema{Format: schemas.JSON, Text: c.UpdateSchema}, []Schema{{Format: schemas.JSON, Text: c.OriginalSchema}})
		if err != nil {
			errs++
			t.Errorf("%s: %v", c.Description, err)
			continue
		}
		switch {
		case res.Compatible == c.Compatible:
			agree++
		case res.Compatible:
			falseCompat++
		default:
			falseIncompat++
			t.Errorf("%s: Confluent accepts it, we report %v", c.Description, res.Issues)
		}
	}
	t.Logf("%d cases: same verdict %d; accepted here but rejected by Confluent %d; rejected here but accepted by Confluent %d; errors %d", len(cases), agree, falseCompat, falseIncompat, errs)
	if agree < 72 {
		t.Errorf("agreement fell to %d of %d", agree, len(cases))
	}
}
