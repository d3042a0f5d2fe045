package store

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// query runs SQL against $DATABASE_URL with psql; the test skips where no database is set up.
func query(t *testing.T, commands ...string) string {
	t.Helper()
	dsn := os.Getenv("DATABASE_URL")
	if dsn == "" {
		t.Skip("DATABASE_URL is not set")
	}
	args := []string{"-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", dsn}
	for _, c := range commands {
		args = append(args, "-c", c)
	}
	out, err := exec.Command("psql", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("psql: %v\n%s", err, out)
	}
	return strings.TrimSpace(string(out))
}

func TestOrdersOnDay(t *testing.T) {
	out := query(t, "PREPARE q AS "+OrdersOnDaySQL, "EXECUTE q('2024-02-01')")
	if strings.Count(out, "\n")+1 != 1440 {
		t.Fatalf("%d orders on 2024-02-01, want one a minute", strings.Count(out, "\n")+1)
	}
}
