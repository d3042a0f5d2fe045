package queue

import "testing"

func TestEqualPrioritiesKeepSubmissionOrder(t *testing.T) {
	var jobs []Job
	for i := 0; i < 60; i++ {
		jobs = append(jobs, Job{Seq: i, Name: "job", Priority: i % 3})
	}
	Order(jobs)
	for i := 1; i < len(jobs); i++ {
		a, b := jobs[i-1], jobs[i]
		if a.Priority < b.Priority {
			t.Fatalf("priority %d before %d", a.Priority, b.Priority)
		}
		if a.Priority == b.Priority && a.Seq > b.Seq {
			t.Fatalf("job %d (priority %d) runs before job %d", a.Seq, a.Priority, b.Seq)
		}
	}
}
