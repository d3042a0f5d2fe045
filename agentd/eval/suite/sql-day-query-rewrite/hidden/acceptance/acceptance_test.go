package acceptance

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"example.com/shop/store"
)

// psql runs SQL commands in one session against $DATABASE_URL and returns the output (-A -t).
func psql(t *testing.T, commands ...string) string {
	t.Helper()
	dsn := os.Getenv("DATABASE_URL")
	if dsn == "" {
		t.Fatal("DATABASE_URL is not set: these tests need the fixture database")
	}
	args := []string{"-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", dsn}
	for _, c := range commands {
		args = append(args, "-c", c)
	}
	out, err := exec.Command("psql", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("psql %q: %v\n%s", commands, err, out)
	}
	return strings.TrimSpace(string(out))
}

// migrate applies the migrations not yet recorded in schema_migrations, in name order.
func migrate(t *testing.T) {
	t.Helper()
	files, err := filepath.Glob("../migrations/*.sql")
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(files)
	applied := map[string]bool{}
	for _, name := range strings.Fields(psql(t, "SELECT name FROM schema_migrations")) {
		applied[name] = true
	}
	for _, file := range files {
		name := filepath.Base(file)
		if applied[name] {
			continue
		}
		body, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		psql(t, string(body), "INSERT INTO schema_migrations (name) VALUES ('"+name+"')", "ANALYZE")
	}
}

// plan is the JSON plan of a prepared query executed with args (SQL literals).
func plan(t *testing.T, query string, args ...string) (cost float64, seqScans []string) {
	t.Helper()
	execute := "EXECUTE q"
	if len(args) > 0 {
		execute += "(" + strings.Join(args, ", ") + ")"
	}
	out := psql(t, "PREPARE q AS "+query, "EXPLAIN (FORMAT JSON) "+execute)
	var plans []struct{ Plan map[string]any }
	if err := json.Unmarshal([]byte(out), &plans); err != nil || len(plans) != 1 {
		t.Fatalf("EXPLAIN output %q: %v", out, err)
	}
	var walk func(node map[string]any)
	walk = func(node map[string]any) {
		if node["Node Type"] == "Seq Scan" {
			seqScans = append(seqScans, fmt.Sprint(node["Relation Name"]))
		}
		children, _ := node["Plans"].([]any)
		for _, child := range children {
			if c, ok := child.(map[string]any); ok {
				walk(c)
			}
		}
	}
	walk(plans[0].Plan)
	cost, _ = plans[0].Plan["Total Cost"].(float64)
	return cost, seqScans
}

// rows runs a prepared query with args and returns its rows, one string per row.
func rows(t *testing.T, query string, args ...string) []string {
	t.Helper()
	execute := "EXECUTE q"
	if len(args) > 0 {
		execute += "(" + strings.Join(args, ", ") + ")"
	}
	out := psql(t, "PREPARE q AS "+query, execute)
	if out == "" {
		return nil
	}
	return strings.Split(out, "\n")
}

const reference = `SELECT id, customer_id, total_cents, created_at FROM orders
WHERE date_trunc('day', created_at) = $1::date ORDER BY created_at, id`

func TestSameOrdersEveryDay(t *testing.T) {
	migrate(t)
	for _, day := range []string{"'2024-03-05'", "'2024-01-01'", "'2024-03-06'", "'2023-12-31'"} {
		got := rows(t, store.OrdersOnDaySQL, day)
		want := rows(t, reference, day)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%s: %d orders, want %d", day, len(got), len(want))
		}
	}
	day := strings.Join(rows(t, store.OrdersOnDaySQL, "'2024-03-05'"), "\n")
	if !strings.Contains(day, "\n100001|") || !strings.HasPrefix(day[strings.LastIndex(day, "\n")+1:], "100002|") {
		t.Fatal("an order at midnight or the day's last order is missing, or out of order")
	}
	if strings.Contains(day, "100003|") {
		t.Fatal("the next day's midnight order is included")
	}
}

func TestDayQueryUsesTheIndex(t *testing.T) {
	migrate(t)
	cost, scans := plan(t, store.OrdersOnDaySQL, "'2024-03-05'")
	if len(scans) > 0 {
		t.Errorf("the plan reads whole tables: %v", scans)
	}
	if cost > 1000 {
		t.Errorf("plan cost %.0f, want at most 1000", cost)
	}
}
