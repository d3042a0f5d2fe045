package config

import (
	"strings"
	"testing"
)

func TestSyntaxErrorIsReported(t *testing.T) {
	path := write(t, `{"workers": 8 "listen": ":9000"}`)
	_, err := Load(path)
	if err == nil {
		t.Fatal("a file with a syntax error loaded without an error")
	}
	if !strings.Contains(err.Error(), path) {
		t.Errorf("the error %q does not name the file", err)
	}
}

func TestWrongTypeIsReported(t *testing.T) {
	if _, err := Load(write(t, `{"workers": "eight"}`)); err == nil {
		t.Fatal("workers given as a string loaded without an error")
	}
}

func TestValidFileStillLoads(t *testing.T) {
	cfg, err := Load(write(t, `{"listen": ":9000", "log_level": "debug"}`))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Listen != ":9000" || cfg.LogLevel != "debug" || cfg.Workers != 4 {
		t.Fatalf("got %+v", cfg)
	}
}
