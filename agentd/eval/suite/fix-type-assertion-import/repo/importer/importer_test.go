package importer

import "testing"

func TestParseStringIDs(t *testing.T) {
	got, err := Parse([]byte(`[{"id": "7", "name": "Ada", "email": "ada@example.com"}, {"id": "8"}]`))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0] != (Customer{"7", "Ada", "ada@example.com"}) || got[1].ID != "8" {
		t.Fatalf("got %+v", got)
	}
}

func TestParseBadJSON(t *testing.T) {
	if _, err := Parse([]byte(`[{`)); err == nil {
		t.Fatal("no error")
	}
}
