package main

// Children, groups and sweeps. The runner is PID 1 of its container, so it reaps every child
// itself: one loop waits for exits with WNOWAIT, kills the group of a command's leader while its
// zombie still pins the group id (no pid reuse can make the kill hit someone else), waits until
// the group is empty, and only then collects the status. When no other command is running, every
// process of the container but the runner is killed as well (kill(-1) from PID 1 reaches exactly
// the processes of its pid namespace, atomically with respect to fork).

import (
	"errors"
	"log"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unsafe"
)

const (
	goneWithin   = 5 * time.Second // how long killed processes may take to die before the runner says so
	killedPoll   = time.Millisecond
	trampolineAt = 2 * time.Second // a leader this young may still be the non-dumpable trampoline
)

var errStopped = errors.New("the lane is stopped")

// child is one command's process group leader, as the reaper tracks it.
type child struct {
	pid      int
	started  time.Time
	done     bool // guarded by reaper.mu
	timedOut bool // guarded by reaper.mu
	killed   int  // guarded by reaper.mu: live members of its group killed after the leader ended
	status   chan syscall.WaitStatus
}

// reaper owns every wait and every kill.
type reaper struct {
	self    string // this binary, re-executed as each command's trampoline
	mu      sync.Mutex
	leaders map[int]*child
	running int           // guarded by mu: commands started and not finished
	stopped string        // guarded by mu: why the lane was stopped; no command starts after that
	wake    chan struct{} // a command started: the disk watcher wakes up
}

func newReaper(self string) *reaper {
	return &reaper{self: self, leaders: map[int]*child{}, wake: make(chan struct{}, 1)}
}

// start forks argv; the lock makes sure the reaper cannot see the exit before the leader is known.
func (r *reaper) start(argv []string, attr *syscall.ProcAttr) (*child, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopped != "" {
		return nil, errStopped
	}
	pid, err := syscall.ForkExec(r.self, argv, attr)
	if err != nil {
		return nil, err
	}
	c := &child{pid: pid, started: time.Now(), status: make(chan syscall.WaitStatus, 1)}
	r.leaders[pid] = c
	r.running++
	select {
	case r.wake <- struct{}{}:
	default:
	}
	return c, nil
}

// kill SIGKILLs the child's group unless its leader was already collected.
func (r *reaper) kill(c *child, timedOut bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !c.done {
		_ = syscall.Kill(-c.pid, syscall.SIGKILL)
		c.timedOut = c.timedOut || timedOut
	}
}

// finish ends a collected command's bookkeeping; when it was the last one running, it kills every
// other process of the container. Returns how many processes were killed after its leader ended.
func (r *reaper) finish(c *child) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.running--
	killed := c.killed
	if r.running == 0 {
		killed += sweep()
	}
	return killed
}

// isYoungLeader says whether pid leads a command started moments ago (it may still be the trampoline).
func (r *reaper) isYoungLeader(pid int) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.leaders[pid]
	return c != nil && time.Since(c.started) < trampolineAt
}

// freeze kills every process but the runner, running commands too, and returns how many there were.
func (r *reaper) freeze() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return sweep()
}

// stop kills everything and refuses every later command, saying why; the first reason stays.
func (r *reaper) stop(reason string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopped == "" {
		r.stopped = reason
		log.Printf("stopped: %s", reason)
	}
	sweep()
}

func (r *reaper) stoppedReason() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stopped
}

func (r *reaper) idle() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.running == 0
}

func (r *reaper) loop() {
	sigchld := make(chan os.Signal, 1)
	signal.Notify(sigchld, syscall.SIGCHLD)
	tick := time.NewTicker(time.Second) // a safety net should a SIGCHLD be coalesced away
	for {
		select {
		case <-sigchld:
		case <-tick.C:
		}
		r.reapAll()
	}
}

func (r *reaper) reapAll() {
	for {
		pid := exitedChild()
		if pid <= 0 {
			return
		}
		r.collect(pid)
	}
}

func (r *reaper) collect(pid int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.leaders[pid]
	if c != nil {
		if c.killed = killGroup(pid); c.killed > 0 {
			waitGone(func() int { return killGroup(pid) })
		}
	}
	var ws syscall.WaitStatus
	if _, err := syscall.Wait4(pid, &ws, syscall.WNOHANG, nil); err != nil {
		log.Printf("wait4 %d: %v", pid, err)
	}
	if c != nil {
		delete(r.leaders, pid)
		c.done = true
		c.status <- ws
	}
}

// killGroup SIGKILLs a process group and returns how many of its processes were alive.
func killGroup(pgid int) int {
	alive := countAlive(func(fields []string) bool { return len(fields) > 2 && fields[2] == strconv.Itoa(pgid) })
	if alive > 0 {
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
	}
	return alive
}

// sweep kills every process of the pid namespace but the runner and waits until they are dead.
// Only ever called by PID 1 (main refuses to start otherwise): elsewhere kill(-1) would reach the
// host's processes of this uid.
func sweep() int {
	all := func([]string) bool { return true }
	alive := countAlive(all)
	if alive > 0 {
		waitGone(func() int {
			_ = syscall.Kill(-1, syscall.SIGKILL)
			return countAlive(all)
		})
	}
	return alive
}

// waitGone repeats kill (which returns how many were alive) until nothing is left; SIGKILLed
// processes die within microseconds unless they are deep in the kernel.
func waitGone(kill func() int) {
	deadline := time.Now().Add(goneWithin)
	for kill() > 0 {
		if time.Now().After(deadline) {
			log.Printf("processes survive SIGKILL after %v", goneWithin)
			return
		}
		time.Sleep(killedPoll)
	}
}

// countAlive counts the live processes other than the runner whose stat fields match.
func countAlive(match func(fields []string) bool) int {
	self := os.Getpid()
	alive := 0
	forEachPid(func(pid int) {
		if pid == self {
			return
		}
		if fields := statFields(pid); len(fields) > 0 && fields[0] != "Z" && fields[0] != "X" && match(fields) {
			alive++
		}
	})
	return alive
}

// forEachPid calls fn with the pid of every process in /proc.
func forEachPid(fn func(pid int)) {
	dir, err := os.Open("/proc")
	if err != nil {
		return
	}
	defer dir.Close()
	names, err := dir.Readdirnames(-1)
	if err != nil {
		return
	}
	for _, name := range names {
		if pid, err := strconv.Atoi(name); err == nil {
			fn(pid)
		}
	}
}

// statFields are the fields of /proc/PID/stat after the command name: state, ppid, pgrp, ...
func statFields(pid int) []string {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return nil
	}
	// The command name may hold spaces and parentheses: the fields start after the last ')'.
	text := string(data)
	end := strings.LastIndexByte(text, ')')
	if end < 0 {
		return nil
	}
	return strings.Fields(text[end+1:])
}

// exitedChild returns the pid of an exited child left unreaped (WNOWAIT), or 0 when none.
func exitedChild() int {
	var info [128]byte // siginfo_t; si_pid follows three ints, aligned like a pointer
	pidOffset := 12
	if unsafe.Sizeof(uintptr(0)) == 8 {
		pidOffset = 16
	}
	for {
		_, _, errno := syscall.Syscall6(syscall.SYS_WAITID, 0 /* P_ALL */, 0,
			uintptr(unsafe.Pointer(&info[0])), syscall.WEXITED|syscall.WNOHANG|syscall.WNOWAIT, 0, 0)
		if errno == syscall.EINTR {
			continue
		}
		if errno != 0 {
			return 0
		}
		return int(*(*int32)(unsafe.Pointer(&info[pidOffset])))
	}
}
