package notes

import (
	"os"
	"path/filepath"
	"testing"
)

func TestSaveAndLoad(t *testing.T) {
	dir := t.TempDir()
	if err := Save(dir, "todo", "milk"); err != nil {
		t.Fatal(err)
	}
	if err := Save(dir, "todo", "milk, eggs"); err != nil {
		t.Fatal(err)
	}
	if got, err := Load(dir, "todo"); err != nil || got != "milk, eggs" {
		t.Fatalf("got %q, %v", got, err)
	}
	if old, _ := os.ReadFile(filepath.Join(dir, "todo.txt.bak")); string(old) != "milk" {
		t.Fatalf("backup = %q", old)
	}
}

func TestBadTitle(t *testing.T) {
	if err := Save(t.TempDir(), "../x", "no"); err == nil {
		t.Fatal("no error for a title with a slash")
	}
}
