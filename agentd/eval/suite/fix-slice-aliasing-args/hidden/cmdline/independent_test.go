package cmdline

import "testing"

func TestListsFromOneBaseStayIndependent(t *testing.T) {
	base := Base("rsync", "-a")
	verbose := With(base, "-v")
	quiet := With(base, "-q")
	if got := String(verbose); got != "rsync -a -v" {
		t.Errorf("verbose = %q after building quiet", got)
	}
	if got := String(quiet); got != "rsync -a -q" {
		t.Errorf("quiet = %q", got)
	}
	if got := String(base); got != "rsync -a" {
		t.Errorf("base = %q", got)
	}
}

func TestAppendingToAResultLeavesOthersAlone(t *testing.T) {
	base := Base("git")
	log := With(base, "log")
	status := With(base, "status")
	log = append(log, "--oneline")
	if got := String(status); got != "git status" {
		t.Errorf("status = %q after appending to log", got)
	}
	if got := String(log); got != "git log --oneline" {
		t.Errorf("log = %q", got)
	}
}
