// Package config reads the service's JSON configuration file.
package config

import (
	"encoding/json"
	"fmt"
	"os"
)

// Config is the service's configuration.
type Config struct {
	Listen   string `json:"listen"`
	Workers  int    `json:"workers"`
	LogLevel string `json:"log_level"`
}

// Defaults are used for every setting the file leaves out.
func Defaults() Config {
	return Config{Listen: ":8080", Workers: 4, LogLevel: "info"}
}

// Load reads the file at path over the defaults.
func Load(path string) (Config, error) {
	cfg := Defaults()
	data, err := os.ReadFile(path)
	if err != nil {
		return cfg, fmt.Errorf("config: %w", err)
	}
	json.Unmarshal(data, &cfg)
	if cfg.Workers < 1 {
		return cfg, fmt.Errorf("config: %s: workers must be at least 1", path)
	}
	return cfg, nil
}
