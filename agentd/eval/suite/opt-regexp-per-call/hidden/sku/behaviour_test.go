package sku

import "testing"

func TestVerdicts(t *testing.T) {
	cases := map[string]bool{
		"KIT-0042-BL": true, "AB-1234": true, "ABCD-9999-XY": true, "ABCD-0000": true,
		"A-1234": false, "ABCDE-1234": false, "AB-123": false, "AB-12345": false, "AB-1234-B": false,
		"AB-1234-BLU": false, "ab-1234": false, "AB-1234-bl": false, "AB1234": false, "": false,
		" AB-1234": false, "AB-1234\n": false, "AB-١٢٣٤": false, "ÄB-1234": false,
	}
	for code, want := range cases {
		if got := Valid(code); got != want {
			t.Errorf("Valid(%q) = %v, want %v", code, got, want)
		}
	}
}

func TestNormalizeThenValid(t *testing.T) {
	if !Valid(Normalize("  kit-0042-bl ")) {
		t.Fatal("a normalized code is not valid")
	}
}
