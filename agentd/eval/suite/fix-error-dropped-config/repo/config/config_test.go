package config

import (
	"os"
	"path/filepath"
	"testing"
)

func write(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config.json")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLoadOverDefaults(t *testing.T) {
	cfg, err := Load(write(t, `{"workers": 8}`))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Workers != 8 || cfg.Listen != ":8080" {
		t.Fatalf("got %+v", cfg)
	}
}

func TestMissingFile(t *testing.T) {
	if _, err := Load(filepath.Join(t.TempDir(), "none.json")); err == nil {
		t.Fatal("no error for a missing file")
	}
}
