// Package signup checks the sign-up form.
package signup

import (
	"strings"
)

// Form is what the user typed.
type Form struct {
	Email    string
	Password string
}

// Problems lists everything wrong with a form.
type Problems struct {
	List []string
}

func (p *Problems) Error() string {
	if p == nil {
		return "<nil>"
	}
	return "signup: " + strings.Join(p.List, "; ")
}

func check(f Form) *Problems {
	var p *Problems
	add := func(msg string) {
		if p == nil {
			p = &Problems{}
		}
		p.List = append(p.List, msg)
	}
	if !strings.Contains(f.Email, "@") {
		add("email needs an @")
	}
	if len(f.Password) < 8 {
		add("password needs at least 8 characters")
	}
	return p
}

// Validate returns nil for a good form, else a *Problems error.
func Validate(f Form) error {
	return check(f)
}
