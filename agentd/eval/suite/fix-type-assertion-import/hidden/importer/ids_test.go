package importer

import (
	"strings"
	"testing"
)

func TestNumericIDs(t *testing.T) {
	got, err := Parse([]byte(`[{"id": 1042, "name": "Grace"}, {"id": "77"}, {"id": 9007199254740}]`))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"1042", "77", "9007199254740"}
	for i, c := range got {
		if c.ID != want[i] {
			t.Errorf("record %d: id %q, want %q", i, c.ID, want[i])
		}
	}
	if got[0].Name != "Grace" {
		t.Errorf("name %q", got[0].Name)
	}
}

func TestBadIDsAreErrorsNotPanics(t *testing.T) {
	for _, doc := range []string{
		`[{"id": "1"}, {"name": "no id"}]`,
		`[{"id": "1"}, {"id": null}]`,
		`[{"id": "1"}, {"id": true}]`,
		`[{"id": "1"}, {"id": 1.5}]`,
		`[{"id": "1"}, {"id": ["2"]}]`,
	} {
		func() {
			defer func() {
				if p := recover(); p != nil {
					t.Errorf("Parse(%s) panicked: %v", doc, p)
				}
			}()
			_, err := Parse([]byte(doc))
			if err == nil {
				t.Errorf("Parse(%s): no error", doc)
			} else if !strings.Contains(err.Error(), "2") {
				t.Errorf("Parse(%s): the error %q does not name record 2", doc, err)
			}
		}()
	}
}
