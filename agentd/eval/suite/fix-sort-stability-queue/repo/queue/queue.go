// Package queue decides in which order waiting jobs run.
package queue

import "sort"

// Job is a waiting job; Seq is the order in which jobs were submitted.
type Job struct {
	Seq      int
	Name     string
	Priority int
}

// Order sorts jobs so that higher priorities run first.
func Order(jobs []Job) {
	sort.Slice(jobs, func(i, j int) bool { return jobs[i].Priority > jobs[j].Priority })
}
