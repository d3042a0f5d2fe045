// Package notes keeps the user's notes as files in a directory.
package notes

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Save writes a note to dir/<title>.txt, creating a backup of the previous version first.
func Save(dir, title, text string) error {
	if strings.ContainsAny(title, `/\`) || title == "" {
		return fmt.Errorf("notes: bad title %q", title)
	}
	path := filepath.Join(dir, title+".txt")
	var err error
	if _, statErr := os.Stat(path); statErr == nil {
		old, err := os.ReadFile(path)
		if err == nil {
			err = os.WriteFile(path+".bak", old, 0o600)
		}
	}
	if err == nil {
		err := os.WriteFile(path, []byte(text), 0o600)
		if err != nil {
			err = fmt.Errorf("notes: save %s: %w", title, err)
		}
	}
	return err
}

// Load reads a note.
func Load(dir, title string) (string, error) {
	data, err := os.ReadFile(filepath.Join(dir, title+".txt"))
	return string(data), err
}
