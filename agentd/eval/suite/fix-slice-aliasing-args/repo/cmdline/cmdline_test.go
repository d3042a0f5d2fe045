package cmdline

import "testing"

func TestWith(t *testing.T) {
	got := String(With(Base("tar", "-c"), "-z", "-f", "out.tgz"))
	if got != "tar -c -z -f out.tgz" {
		t.Fatalf("got %q", got)
	}
}
