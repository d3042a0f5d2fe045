package queue

import "testing"

func TestHigherPriorityFirst(t *testing.T) {
	jobs := []Job{{1, "backup", 1}, {2, "deploy", 5}, {3, "report", 3}}
	Order(jobs)
	if jobs[0].Name != "deploy" || jobs[1].Name != "report" || jobs[2].Name != "backup" {
		t.Fatalf("got %v", jobs)
	}
}
