package invoice

import "testing"

func TestInstallmentsThatAddUp(t *testing.T) {
	cases := []Invoice{
		{Due: 30.3, Payments: []float64{10.1, 20.2}},
		{Due: 0.9, Payments: []float64{0.3, 0.6}},
		{Due: 250.8, Payments: []float64{250.7, 0.1}},
		{Due: 0.6, Payments: []float64{0.1, 0.2, 0.3}},
		{Due: 1.0, Payments: []float64{0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1}},
	}
	for _, inv := range cases {
		if !inv.Paid() {
			t.Errorf("%v paid in full is still open (received %.17g)", inv, inv.Received())
		}
	}
}

func TestShortByACentIsOpen(t *testing.T) {
	cases := []Invoice{
		{Due: 0.6, Payments: []float64{0.1, 0.2, 0.29}},
		{Due: 30.3, Payments: []float64{10.1, 20.19}},
		{Due: 1.0, Payments: []float64{0.99}},
	}
	for _, inv := range cases {
		if inv.Paid() {
			t.Errorf("%v is short by a cent but counts as paid", inv)
		}
	}
}
