package money

import "testing"

func TestEveryCentSurvives(t *testing.T) {
	cases := map[string]int64{
		"0.29": 29, "4.35": 435, "19.99": 1999, "1.15": 115, "-0.29": -29, "$1,000.57": 100057,
		"2.675": 268, "0.125": 13, "-0.125": -13, "0.0049": 0,
	}
	for text, want := range cases {
		got, err := ParseDollars(text)
		if err != nil || got != want {
			t.Errorf("ParseDollars(%q) = %d, %v; want %d", text, got, err, want)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	for cents := int64(0); cents < 10000; cents++ {
		got, err := ParseDollars(Format(cents))
		if err != nil || got != cents {
			t.Fatalf("ParseDollars(Format(%d)) = %d, %v", cents, got, err)
		}
	}
}
