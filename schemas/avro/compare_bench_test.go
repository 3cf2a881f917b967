package avro_test

import (
	"testing"
	"time"
)

// rateAgainst times ref for as many iterations as the benchmark's loop ran
// and reports the benchmark's rate over ref's as name: above 1 means ours
// is faster. Both run in the same process one after the other, so the
// ratio holds on a loaded machine where the absolute figures do not.
func rateAgainst(b *testing.B, name string, ref func() error) {
	b.Helper()
	ours := b.Elapsed()
	n := b.N
	start := time.Now()
	for range n {
		if err := ref(); err != nil {
			b.Fatal(err)
		}
	}
	theirs := time.Since(start)
	if ours > 0 && theirs > 0 {
		b.ReportMetric(theirs.Seconds()/ours.Seconds(), name)
	}
}

// BenchmarkCompareEncode is schemaflow's BSON → Avro conversion with
// goavro's BinaryFromNative of the same record beside it (its native map
// ready-made, so goavro's figure leaves out any BSON conversion): the
// x-goavro metric is our rate over goavro's.
func BenchmarkCompareEncode(b *testing.B) {
	for _, c := range benchCases(b) {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(c.doc)))
			var dst []byte
			var err error
			for b.Loop() {
				if dst, err = c.codec.Encode(dst[:0], c.doc); err != nil {
					b.Fatal(err)
				}
			}
			docsPerSec(b)
			var ref []byte
			rateAgainst(b, "x-goavro", func() (err error) {
				ref, err = c.gc.BinaryFromNative(ref[:0], c.nat)
				return err
			})
		})
	}
}

// BenchmarkCompareDecode is schemaflow's Avro → BSON conversion with
// goavro's NativeFromBinary of the same bytes beside it (to native maps,
// no BSON): x-goavro is our rate over goavro's.
func BenchmarkCompareDecode(b *testing.B) {
	for _, c := range benchCases(b) {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(c.doc)))
			for b.Loop() {
				if _, err := c.codec.Decode(c.bin); err != nil {
					b.Fatal(err)
				}
			}
			docsPerSec(b)
			rateAgainst(b, "x-goavro", func() error {
				_, _, err := c.gc.NativeFromBinary(c.bin)
				return err
			})
		})
	}
}
