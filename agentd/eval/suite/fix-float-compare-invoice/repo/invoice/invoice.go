// Package invoice tracks what customers owe and what they paid.
package invoice

// Invoice is an amount due and the payments received, in dollars.
type Invoice struct {
	Due      float64
	Payments []float64
}

// Received is the sum of the payments.
func (inv Invoice) Received() float64 {
	total := 0.0
	for _, p := range inv.Payments {
		total += p
	}
	return total
}

// Paid says whether the payments cover the amount due.
func (inv Invoice) Paid() bool {
	received := inv.Received()
	return received == inv.Due || received > inv.Due
}
