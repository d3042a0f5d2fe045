package signup

import (
	"errors"
	"testing"
)

func TestBadFormListsProblems(t *testing.T) {
	err := Validate(Form{Email: "nope", Password: "short"})
	var p *Problems
	if !errors.As(err, &p) || len(p.List) != 2 {
		t.Fatalf("got %v", err)
	}
}
