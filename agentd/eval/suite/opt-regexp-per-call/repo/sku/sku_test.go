package sku

import "testing"

func TestValid(t *testing.T) {
	if !Valid("KIT-0042-BL") || !Valid("AB-1234") || Valid("kit-0042") {
		t.Fatal("wrong verdicts")
	}
}

func BenchmarkValid(b *testing.B) {
	codes := []string{"KIT-0042-BL", "AB-1234", "TOOLS-1", "kit-0042", "ABCD-9999-XY", "A-1234"}
	for i := 0; i < b.N; i++ {
		for _, c := range codes {
			Valid(c)
		}
	}
}
