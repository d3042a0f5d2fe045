package notes

import (
	"os"
	"path/filepath"
	"testing"
)

func TestSaveIntoMissingDirectoryFails(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "deleted")
	if err := Save(dir, "todo", "milk"); err == nil {
		t.Fatal("Save into a missing directory returned nil")
	}
}

func TestSaveOverUnwritableNoteFails(t *testing.T) {
	dir := t.TempDir()
	if err := Save(dir, "todo", "milk"); err != nil {
		t.Fatal(err)
	}
	// a directory where the backup must go makes the backup fail
	if err := os.Mkdir(filepath.Join(dir, "todo.txt.bak"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := Save(dir, "todo", "eggs"); err == nil {
		t.Fatal("Save returned nil although the backup could not be written")
	}
}
