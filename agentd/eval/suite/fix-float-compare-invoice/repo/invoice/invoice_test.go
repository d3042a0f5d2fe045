package invoice

import "testing"

func TestPaidInFull(t *testing.T) {
	if !(Invoice{Due: 25, Payments: []float64{25}}).Paid() {
		t.Fatal("a single full payment does not pay the invoice")
	}
	if (Invoice{Due: 25, Payments: []float64{10}}).Paid() {
		t.Fatal("a partial payment pays the invoice")
	}
	if !(Invoice{Due: 25, Payments: []float64{20, 10}}).Paid() {
		t.Fatal("an overpayment does not pay the invoice")
	}
}
