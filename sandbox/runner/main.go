// Command runner is agentd's in-container command runner, PID 1 of every sandbox.
//
// It connects once to the unix socket agentd listens on (its directory is mounted read-only at
// /run/agentd), says hello, and serves JSON requests over that one connection, one per line, each
// tagged with an id and answered with the same id, in any order:
//
//	{"id":1,"op":"run","argv":[...],"cwd":"/workspace/sub","env":{"K":"V"},"timeout_ms":N,"max_output":N}
//	{"id":2,"op":"freeze"}
//	{"id":3,"op":"ping"}
//
// Nothing inside the sandbox can take its place: agentd removes its listener once the runner is
// connected (and checked it is this container's PID 1), the runner is non-dumpable (no ptrace, no
// /proc/1/mem or /proc/1/fd for the sandbox user), and as PID 1 it gets no signal it does not want.
// When the connection ends, the runner kills everything and exits, and so does the container.
//
// A command runs directly (never through a shell) with stdin from /dev/null, exactly the
// environment it was given, in a process group of its own that seccomp keeps it from leaving (see
// lock.go). When the command ends or times out its whole group is killed; when no other command is
// running, every other process of the container is killed too; `freeze` kills every process but
// the runner at once. Answers say how many processes were killed. The disk limit is in disk.go,
// children and sweeps in reaper.go, one command in command.go, output capture in capture.go.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"
)

const (
	runnerVersion    = "2"
	maxRequestBytes  = 4 << 20
	defaultTimeout   = 300 * time.Second
	defaultMaxOutput = 64000
	minMaxOutput     = 64
	defaultPath      = "/usr/local/bin:/usr/bin:/bin"
	drainGrace       = time.Second // how long output may trail the end of a command's group
	answerDeadline   = 30 * time.Second
	connectWithin    = 5 * time.Second
	warmThreads      = 8
	prSetDumpable    = 4
	prSetChildReaper = 36
)

type request struct {
	ID        uint64            `json:"id"`
	Op        string            `json:"op"`
	Argv      []string          `json:"argv"`
	Cwd       string            `json:"cwd"`
	Env       map[string]string `json:"env"`
	TimeoutMs int64             `json:"timeout_ms"`
	MaxOutput int               `json:"max_output"`
}

type result struct {
	ID         uint64  `json:"id"`
	ExitCode   int     `json:"exit_code"`
	Stdout     string  `json:"stdout"`
	Stderr     string  `json:"stderr"`
	Truncated  bool    `json:"truncated"`
	TimedOut   bool    `json:"timed_out"`
	DurationMs float64 `json:"duration_ms"`
	Killed     int     `json:"killed"`            // processes killed after the command's leader ended
	Stopped    string  `json:"stopped,omitempty"` // why the lane is stopped, when it is
}

type frozen struct {
	ID       uint64 `json:"id"`
	Killed   int    `json:"killed"`
	DiskUsed int64  `json:"disk_used"` // -1 without a disk limit
	Stopped  string `json:"stopped,omitempty"`
}

type pong struct {
	ID      uint64 `json:"id"`
	OK      bool   `json:"ok"`
	Version string `json:"version"`
	Pid     int    `json:"pid"`
}

type hello struct {
	Hello   string `json:"hello"`
	Version string `json:"version"`
	Pid     int    `json:"pid"`
}

type failure struct {
	ID    uint64 `json:"id"`
	Error string `json:"error"`
}

// ---------------------------------------------------------------- requests

type server struct {
	r    *reaper
	disk *diskLimit // nil without a limit
}

func (s *server) answer(line []byte) interface{} {
	var req request
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return failure{ID: req.ID, Error: "bad request: " + err.Error()}
	}
	switch req.Op {
	case "ping":
		return pong{ID: req.ID, OK: true, Version: runnerVersion, Pid: os.Getpid()}
	case "freeze":
		answer := frozen{ID: req.ID, Killed: s.r.freeze(), DiskUsed: -1}
		if s.disk != nil {
			answer.DiskUsed = s.disk.enforce()
		}
		answer.Stopped = s.r.stoppedReason()
		return answer
	case "run":
		cmd, refused, err := prepare(req)
		if err != nil {
			return failure{ID: req.ID, Error: "bad request: " + err.Error()}
		}
		var res result
		if refused != nil {
			res = *refused
		} else {
			res = s.r.run(cmd)
		}
		res.ID = req.ID
		return res
	default:
		return failure{ID: req.ID, Error: fmt.Sprintf("bad request: unknown op %q (expected run, freeze or ping)", req.Op)}
	}
}

// serve answers requests until agentd closes the connection; each request runs on its own.
func (s *server) serve(conn *net.UnixConn) error {
	var sending sync.Mutex
	send := func(v interface{}) {
		data, err := json.Marshal(v)
		if err != nil {
			data, _ = json.Marshal(failure{Error: "cannot encode the answer: " + err.Error()})
		}
		sending.Lock()
		defer sending.Unlock()
		_ = conn.SetWriteDeadline(time.Now().Add(answerDeadline))
		if _, err := conn.Write(append(data, '\n')); err != nil {
			log.Printf("answer: %v", err)
			_ = conn.Close() // agentd is gone or stuck: the read loop ends and so does the runner
		}
	}
	send(hello{Hello: "agentd-runner", Version: runnerVersion, Pid: os.Getpid()})
	lines := bufio.NewScanner(conn)
	lines.Buffer(make([]byte, 64<<10), maxRequestBytes)
	for lines.Scan() {
		line := append([]byte(nil), lines.Bytes()...)
		go func() { send(s.answer(line)) }()
	}
	return lines.Err()
}

// ---------------------------------------------------------------- start-up

// applyLimits sets the rlimits every command inherits; 0 leaves a limit as the container set it.
func applyLimits(maxFileSize, maxOpenFiles uint64) error {
	limits := []struct {
		resource int
		value    uint64
		name     string
	}{
		{syscall.RLIMIT_CORE, 0, "core"},
		{syscall.RLIMIT_FSIZE, maxFileSize, "fsize"},
		{syscall.RLIMIT_NOFILE, maxOpenFiles, "nofile"},
	}
	for _, l := range limits {
		if l.value == 0 && l.resource != syscall.RLIMIT_CORE {
			continue
		}
		var current syscall.Rlimit
		if err := syscall.Getrlimit(l.resource, &current); err != nil {
			return fmt.Errorf("getrlimit %s: %w", l.name, err)
		}
		value := l.value
		if value > current.Max {
			value = current.Max // only root may raise a hard limit
		}
		if err := syscall.Setrlimit(l.resource, &syscall.Rlimit{Cur: value, Max: value}); err != nil {
			return fmt.Errorf("setrlimit %s=%d: %w", l.name, value, err)
		}
	}
	return nil
}

// warmUp makes the Go runtime create its OS threads now: under a fork bomb that exhausts the
// pids limit, a runtime that needs one more thread later would abort the whole runner.
func warmUp(threads int) {
	var started sync.WaitGroup
	release := make(chan struct{})
	for i := 0; i < threads; i++ {
		started.Add(1)
		go func() {
			runtime.LockOSThread()
			started.Done()
			<-release
			runtime.UnlockOSThread() // the thread stays parked in the runtime's idle pool
		}()
	}
	started.Wait()
	close(release)
}

// ignoreSignals takes every signal into a channel nobody acts on. PID 1 of a namespace receives a
// signal sent from inside it only when it has a handler; Go installs handlers (SIGTERM, SIGQUIT, a
// SIGSEGV sent with kill, ...) that would end the runner, and Notify makes them all harmless.
func ignoreSignals() {
	sink := make(chan os.Signal, 64)
	signal.Notify(sink)
	go func() {
		for range sink {
		}
	}()
}

// dial connects to agentd's listener, which exists before the container starts.
func dial(path string) (*net.UnixConn, error) {
	deadline := time.Now().Add(connectWithin)
	for {
		conn, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: path, Net: "unix"})
		if err == nil || time.Now().After(deadline) {
			return conn, err
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func main() {
	if len(os.Args) > 2 && os.Args[1] == "-exec" {
		execLocked(os.Args[2], os.Args[3:])
	}
	connect := flag.String("connect", "", "agentd's unix socket to connect to (required)")
	maxFileSize := flag.Uint64("max-file-size", 0, "RLIMIT_FSIZE for commands, bytes (0: unchanged)")
	maxOpenFiles := flag.Uint64("max-open-files", 0, "RLIMIT_NOFILE for commands (0: unchanged)")
	diskLimitBytes := flag.Int64("disk-limit", 0, "bytes the watched roots may hold (0: no limit)")
	diskWatch := flag.String("disk-watch", "/workspace", "comma-separated directories the disk limit covers")
	flag.Parse()
	log.SetPrefix("agentd-runner: ")
	if *connect == "" {
		log.Fatal("-connect PATH is required")
	}
	if os.Getpid() != 1 {
		// Sweeps kill(-1): outside a pid namespace of its own that would reach the host's processes.
		log.Fatal("the runner must be PID 1 of its container (started without --init)")
	}
	if _, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, prSetDumpable, 0, 0); errno != 0 {
		log.Fatalf("prctl(PR_SET_DUMPABLE, 0): %v", errno)
	}
	self, err := os.Executable()
	if err != nil {
		log.Fatalf("cannot find its own binary: %v", err)
	}
	syscall.Umask(0o002)
	if err := applyLimits(*maxFileSize, *maxOpenFiles); err != nil {
		log.Fatal(err)
	}
	_, _, _ = syscall.RawSyscall(syscall.SYS_PRCTL, prSetChildReaper, 1, 0)
	ignoreSignals()
	warmUp(warmThreads)
	r := newReaper(self)
	go r.loop()
	s := &server{r: r}
	if *diskLimitBytes > 0 {
		s.disk = &diskLimit{limit: *diskLimitBytes, roots: strings.Split(*diskWatch, ","), skip: "/workspace/.git", r: r}
		go s.disk.watch()
	}
	conn, err := dial(*connect)
	if err != nil {
		log.Fatalf("connect to agentd at %s: %v", *connect, err)
	}
	log.Printf("version %s connected to %s", runnerVersion, *connect)
	err = s.serve(conn)
	if err != nil && !errors.Is(err, net.ErrClosed) {
		log.Printf("connection: %v", err)
	}
	r.stop("agentd closed the connection")
	os.Exit(0)
}
