package signup

import (
	"errors"
	"testing"
)

func TestGoodFormIsNil(t *testing.T) {
	if err := Validate(Form{Email: "ada@example.com", Password: "correct horse"}); err != nil {
		t.Fatalf("a good form: %v", err)
	}
}

func TestOneProblem(t *testing.T) {
	err := Validate(Form{Email: "ada@example.com", Password: "short"})
	var p *Problems
	if err == nil || !errors.As(err, &p) || len(p.List) != 1 {
		t.Fatalf("got %v", err)
	}
}
