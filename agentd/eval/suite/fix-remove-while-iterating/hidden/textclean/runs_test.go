package textclean

import (
	"reflect"
	"testing"
)

func TestDropRunsOfBlankLines(t *testing.T) {
	cases := []struct{ in, want []string }{
		{[]string{"a", "", "", "b"}, []string{"a", "b"}},
		{[]string{"", " ", "\t", "a"}, []string{"a"}},
		{[]string{"a", "", "", ""}, []string{"a"}},
		{[]string{"", ""}, []string{}},
	}
	for _, c := range cases {
		got := DropBlank(append([]string(nil), c.in...))
		if len(got) == 0 && len(c.want) == 0 {
			continue
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("DropBlank(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
