package catalog

import (
	"strings"
	"testing"
)

func TestEncodeNameAndPrice(t *testing.T) {
	data, err := Encode(Item{ID: "i1", Name: "Kettle", PriceCents: 2599, Stock: 3})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"id":"i1"`, `"name":"Kettle"`, `"price_cents":2599`, `"stock":3`} {
		if !strings.Contains(string(data), want) {
			t.Errorf("%s lacks %s", data, want)
		}
	}
	if strings.Contains(string(data), `"tags"`) {
		t.Errorf("%s: tags should be left out when there are none", data)
	}
}
