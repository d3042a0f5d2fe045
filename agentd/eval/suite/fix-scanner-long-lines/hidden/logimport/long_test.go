package logimport

import (
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
)

func TestLongLinesAreCounted(t *testing.T) {
	payload := strings.Repeat("x", 300*1024)
	log := "INFO start\nDEBUG " + payload + "\nINFO after\nERROR " + strings.Repeat("y", 2<<20) + "\nINFO end\n"
	got, err := Count(strings.NewReader(log))
	if err != nil {
		t.Fatal(err)
	}
	if want := (Counts{"INFO": 3, "DEBUG": 1, "ERROR": 1}); !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

type failing struct{ after io.Reader }

func (f *failing) Read(p []byte) (int, error) {
	n, err := f.after.Read(p)
	if err == io.EOF {
		return n, errors.New("disk read error")
	}
	return n, err
}

func TestReadErrorsAreReported(t *testing.T) {
	if _, err := Count(&failing{strings.NewReader("INFO a\nINFO b\n")}); err == nil {
		t.Fatal("a read error was not reported")
	}
}
