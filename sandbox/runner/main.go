// Command runner is agentd's in-container command runner.
//
// It listens on a unix socket and serves one JSON request per connection:
//
//	{"op":"run","argv":[...],"cwd":"/workspace/sub","env":{"K":"V"},"timeout_ms":N,"max_output":N}
//	{"op":"ping"}
//
// and answers one JSON line. A command runs directly (never through a shell) with stdin from
// /dev/null, exactly the environment it was given, in a process group of its own. Its stdout
// and stderr are captured separately, each capped to max_output bytes (head half, marker, tail
// half) without ever buffering more. On timeout, and again as soon as the leader exits, the
// whole group is killed with SIGKILL so background stragglers die with it.
//
// The runner is usually PID 1 of its container, so it reaps every child itself: one loop waits
// for exits with WNOWAIT, kills the group of a leader while its zombie still pins the group id
// (no pid reuse can make the kill hit someone else), and only then collects the status.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unsafe"
)

const (
	runnerVersion    = "1"
	maxRequestBytes  = 4 << 20
	defaultTimeout   = 300 * time.Second
	defaultMaxOutput = 64000
	minMaxOutput     = 64
	defaultPath      = "/usr/local/bin:/usr/bin:/bin"
	drainGrace       = time.Second // how long output may trail the leader's exit
	requestDeadline  = 10 * time.Second
	answerDeadline   = 30 * time.Second
	warmThreads      = 8
	prSetChildReaper = 36
)

type request struct {
	Op        string            `json:"op"`
	Argv      []string          `json:"argv"`
	Cwd       string            `json:"cwd"`
	Env       map[string]string `json:"env"`
	TimeoutMs int64             `json:"timeout_ms"`
	MaxOutput int               `json:"max_output"`
}

type result struct {
	ExitCode   int     `json:"exit_code"`
	Stdout     string  `json:"stdout"`
	Stderr     string  `json:"stderr"`
	Truncated  bool    `json:"truncated"`
	TimedOut   bool    `json:"timed_out"`
	DurationMs float64 `json:"duration_ms"`
}

type pong struct {
	OK      bool   `json:"ok"`
	Version string `json:"version"`
	Pid     int    `json:"pid"`
}

type failure struct {
	Error string `json:"error"`
}

// ---------------------------------------------------------------- output capture

// capture keeps the first and last bytes of a stream and counts the rest; memory is bounded.
type capture struct {
	head    []byte
	headCap int
	tail    []byte // ring buffer
	tailPos int
	tailLen int
	total   int64
}

func newCapture(limit int) *capture {
	headCap := limit / 2
	return &capture{head: make([]byte, 0, headCap), headCap: headCap, tail: make([]byte, limit-headCap)}
}

func (c *capture) write(p []byte) {
	c.total += int64(len(p))
	if room := c.headCap - len(c.head); room > 0 {
		n := minInt(room, len(p))
		c.head = append(c.head, p[:n]...)
		p = p[n:]
	}
	if len(p) >= len(c.tail) {
		copy(c.tail, p[len(p)-len(c.tail):])
		c.tailPos, c.tailLen = 0, len(c.tail)
		return
	}
	for len(p) > 0 {
		n := copy(c.tail[c.tailPos:], p)
		c.tailPos = (c.tailPos + n) % len(c.tail)
		c.tailLen = minInt(c.tailLen+n, len(c.tail))
		p = p[n:]
	}
}

// text returns the kept bytes as valid UTF-8, with a marker where bytes were cut.
func (c *capture) text() (string, bool) {
	tail := c.tail[:c.tailLen]
	if c.tailLen == len(c.tail) {
		tail = append(append([]byte{}, c.tail[c.tailPos:]...), c.tail[:c.tailPos]...)
	}
	kept := int64(len(c.head) + len(tail))
	var out bytes.Buffer
	out.Write(c.head)
	if kept < c.total {
		fmt.Fprintf(&out, "\n[agentd: %d bytes cut]\n", c.total-kept)
	}
	out.Write(tail)
	return strings.ToValidUTF8(out.String(), "\uFFFD"), kept < c.total
}

// drain reads f to the end into c; done is closed when the stream ends or its deadline passes.
func drain(f *os.File, c *capture, done chan<- struct{}) {
	defer close(done)
	buf := make([]byte, 64<<10)
	for {
		n, err := f.Read(buf)
		c.write(buf[:n])
		if err != nil {
			return
		}
	}
}

// ---------------------------------------------------------------- children and reaping

// child is one command's process group leader, as the reaper tracks it.
type child struct {
	pid      int
	done     bool // guarded by reaper.mu
	timedOut bool // guarded by reaper.mu
	status   chan syscall.WaitStatus
}

// reaper owns every wait: it collects all children (and orphans reparented to the runner).
type reaper struct {
	mu      sync.Mutex
	leaders map[int]*child
}

func newReaper() *reaper {
	return &reaper{leaders: map[int]*child{}}
}

// start forks argv; the lock makes sure the reaper cannot see the exit before the leader is known.
func (r *reaper) start(path string, argv []string, attr *syscall.ProcAttr) (*child, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	pid, err := syscall.ForkExec(path, argv, attr)
	if err != nil {
		return nil, err
	}
	c := &child{pid: pid, status: make(chan syscall.WaitStatus, 1)}
	r.leaders[pid] = c
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
		_ = syscall.Kill(-pid, syscall.SIGKILL) // stragglers die with their leader
	}
	var ws syscall.WaitStatus
	if _, err := syscall.Wait4(pid, &ws, syscall.WNOHANG, nil); err != nil {
		log.Printf("wait4 %d: %v", pid, err)
	}
	if c != nil {
		delete(r.leaders, pid)
		c.done = true
		c.status <- ws
		waitGroupGone(pid)
		r.killOrphans()
	}
}

// killOrphans SIGKILLs every live process reparented to the runner that leads no running command:
// a child that left its command's group (setsid) and outlived its parent must not outlive the
// command. A chain of such escapes is reparented one link at a time as each dies, so passes repeat
// until one finds nothing. Called with r.mu held, so no command can start meanwhile.
func (r *reaper) killOrphans() {
	for pass := 0; pass < 100 && r.killOrphansOnce() > 0; pass++ {
		time.Sleep(5 * time.Millisecond) // let the killed die and their children be reparented
	}
}

// waitGroupGone waits (briefly) until no live process is left in the process group: members still
// dying have not handed their children to the runner yet, so the orphan sweep would miss them.
func waitGroupGone(pgid int) {
	for deadline := time.Now().Add(500 * time.Millisecond); time.Now().Before(deadline); {
		if !groupAlive(pgid) {
			return
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func groupAlive(pgid int) bool {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return false
	}
	for _, entry := range entries {
		pid, err := strconv.Atoi(entry.Name())
		if err != nil {
			continue
		}
		if fields := statFields(pid); len(fields) > 2 && fields[2] == strconv.Itoa(pgid) && fields[0] != "Z" &&
			fields[0] != "X" {
			return true
		}
	}
	return false
}

func (r *reaper) killOrphansOnce() int {
	self := os.Getpid()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	killed := 0
	for _, entry := range entries {
		pid, err := strconv.Atoi(entry.Name())
		if err != nil || pid == self || r.leaders[pid] != nil {
			continue
		}
		if ppid, state := statOf(pid); ppid == self && state != "Z" && state != "X" {
			_ = syscall.Kill(-pid, syscall.SIGKILL) // its own group, if it made one
			_ = syscall.Kill(pid, syscall.SIGKILL)
			killed++
		}
	}
	return killed
}

// statOf reads the state and parent pid from /proc/PID/stat (0 and "" when the process is gone).
func statOf(pid int) (int, string) {
	fields := statFields(pid)
	if len(fields) < 2 {
		return 0, ""
	}
	ppid, _ := strconv.Atoi(fields[1])
	return ppid, fields[0]
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

// ---------------------------------------------------------------- running one command

type command struct {
	argv      []string
	cwd       string
	env       []string
	path      string
	timeout   time.Duration
	maxOutput int
}

func exitStatus(ws syscall.WaitStatus) int {
	if ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ws.ExitStatus()
}

// refusal is a command that never started: the exit code a shell would give and why.
func refusal(code int, format string, args ...interface{}) result {
	return result{ExitCode: code, Stderr: "agentd-runner: " + fmt.Sprintf(format, args...) + "\n"}
}

func (r *reaper) run(cmd command) result {
	started := time.Now()
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		return refusal(126, "cannot open %s: %v", os.DevNull, err)
	}
	defer devnull.Close()
	outR, outW, err := os.Pipe()
	if err != nil {
		return refusal(126, "cannot create a pipe: %v", err)
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		outR.Close()
		outW.Close()
		return refusal(126, "cannot create a pipe: %v", err)
	}
	defer outR.Close()
	defer errR.Close()
	attr := &syscall.ProcAttr{
		Dir:   cmd.cwd,
		Env:   cmd.env,
		Files: []uintptr{devnull.Fd(), outW.Fd(), errW.Fd()},
		Sys:   &syscall.SysProcAttr{Setpgid: true},
	}
	c, err := r.start(cmd.path, cmd.argv, attr)
	outW.Close()
	errW.Close()
	if err != nil {
		return startFailure(cmd.argv[0], err)
	}
	stdout, stderr := newCapture(cmd.maxOutput), newCapture(cmd.maxOutput)
	outDone, errDone := make(chan struct{}), make(chan struct{})
	go drain(outR, stdout, outDone)
	go drain(errR, stderr, errDone)
	timer := time.AfterFunc(cmd.timeout, func() { r.kill(c, true) })
	ws := <-c.status
	timer.Stop()
	finishDrain(outR, outDone)
	finishDrain(errR, errDone)
	r.mu.Lock()
	timedOut := c.timedOut
	r.mu.Unlock()
	res := result{ExitCode: exitStatus(ws), TimedOut: timedOut}
	var cutOut, cutErr bool
	res.Stdout, cutOut = stdout.text()
	res.Stderr, cutErr = stderr.text()
	res.Truncated = cutOut || cutErr
	res.DurationMs = float64(time.Since(started).Microseconds()) / 1000
	return res
}

// finishDrain waits a moment for output still in flight, then stops reading: a process that
// escaped the group (setsid) must not hold the answer hostage.
func finishDrain(f *os.File, done <-chan struct{}) {
	select {
	case <-done:
		return
	case <-time.After(drainGrace):
	}
	_ = f.SetReadDeadline(time.Now())
	<-done
}

func startFailure(name string, err error) result {
	switch {
	case errors.Is(err, syscall.ENOENT):
		return refusal(127, "%s: executable or its interpreter not found", name)
	case errors.Is(err, syscall.EACCES), errors.Is(err, syscall.ENOEXEC):
		return refusal(126, "%s: not executable: %v", name, err)
	default:
		return refusal(126, "%s: cannot start: %v", name, err)
	}
}

// lookPath finds argv[0] the way execvp would, but on the command's own PATH.
func lookPath(name, cwd, pathList string) (string, error) {
	if strings.Contains(name, "/") {
		if !filepath.IsAbs(name) {
			name = filepath.Join(cwd, name)
		}
		return name, executable(name)
	}
	firstErr := error(syscall.ENOENT)
	for _, dir := range filepath.SplitList(pathList) {
		candidate := filepath.Join(dir, name)
		if !filepath.IsAbs(candidate) {
			candidate = filepath.Join(cwd, candidate)
		}
		err := executable(candidate)
		if err == nil {
			return candidate, nil
		}
		if errors.Is(err, syscall.EACCES) && errors.Is(firstErr, syscall.ENOENT) {
			firstErr = err
		}
	}
	return "", firstErr
}

func executable(path string) error {
	info, err := os.Stat(path)
	if err != nil {
		return syscall.ENOENT
	}
	if info.IsDir() || info.Mode()&0o111 == 0 {
		return syscall.EACCES
	}
	return nil
}

// ---------------------------------------------------------------- requests

// prepare validates a run request into a command, or says why it cannot run.
func prepare(req request) (command, *result, error) {
	if len(req.Argv) == 0 || req.Argv[0] == "" {
		return command{}, nil, errors.New("argv must name a program")
	}
	for _, arg := range req.Argv {
		if strings.ContainsRune(arg, 0) {
			return command{}, nil, errors.New("argv must not contain NUL bytes")
		}
	}
	cmd := command{argv: req.Argv, cwd: req.Cwd, timeout: defaultTimeout, maxOutput: defaultMaxOutput}
	if cmd.cwd == "" {
		cmd.cwd = "/workspace"
	}
	if !filepath.IsAbs(cmd.cwd) {
		return command{}, nil, fmt.Errorf("cwd %q must be absolute", cmd.cwd)
	}
	if req.TimeoutMs > 0 {
		cmd.timeout = time.Duration(req.TimeoutMs) * time.Millisecond
	}
	if req.MaxOutput > 0 {
		cmd.maxOutput = maxInt(req.MaxOutput, minMaxOutput)
	}
	pathList := defaultPath
	for key, value := range req.Env {
		if key == "" || strings.ContainsAny(key, "=\x00") || strings.ContainsRune(value, 0) {
			return command{}, nil, fmt.Errorf("env name %q or its value is not allowed", key)
		}
		cmd.env = append(cmd.env, key+"="+value)
		if key == "PATH" {
			pathList = value
		}
	}
	if info, err := os.Stat(cmd.cwd); err != nil || !info.IsDir() {
		refused := refusal(2, "working directory %s does not exist or is not a directory", cmd.cwd)
		return command{}, &refused, nil
	}
	path, err := lookPath(req.Argv[0], cmd.cwd, pathList)
	if err != nil {
		refused := startFailure(req.Argv[0], err)
		return command{}, &refused, nil
	}
	cmd.path = path
	return cmd, nil, nil
}

func (r *reaper) answer(line []byte) interface{} {
	var req request
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return failure{Error: "bad request: " + err.Error()}
	}
	switch req.Op {
	case "ping":
		return pong{OK: true, Version: runnerVersion, Pid: os.Getpid()}
	case "run":
		cmd, refused, err := prepare(req)
		if err != nil {
			return failure{Error: "bad request: " + err.Error()}
		}
		if refused != nil {
			return *refused
		}
		return r.run(cmd)
	default:
		return failure{Error: fmt.Sprintf("bad request: unknown op %q (expected run or ping)", req.Op)}
	}
}

func readRequest(conn net.Conn) ([]byte, error) {
	_ = conn.SetReadDeadline(time.Now().Add(requestDeadline))
	line, err := bufio.NewReader(io.LimitReader(conn, maxRequestBytes+1)).ReadBytes('\n')
	if len(line) > maxRequestBytes {
		return nil, fmt.Errorf("request longer than %d bytes", maxRequestBytes)
	}
	if err != nil && !(errors.Is(err, io.EOF) && len(line) > 0) {
		return nil, err
	}
	return line, nil
}

func (r *reaper) handle(conn net.Conn) {
	defer conn.Close()
	var reply interface{}
	line, err := readRequest(conn)
	if err != nil {
		reply = failure{Error: "bad request: " + err.Error()}
	} else {
		reply = r.answer(line)
	}
	_ = conn.SetWriteDeadline(time.Now().Add(answerDeadline))
	if err := json.NewEncoder(conn).Encode(reply); err != nil {
		log.Printf("answer: %v", err)
	}
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

func listen(path string) (net.Listener, error) {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, err
	}
	// The socket is the runner's only door; its directory is private to the job on the host.
	if err := os.Chmod(path, 0o666); err != nil {
		ln.Close()
		return nil, err
	}
	return ln, nil
}

func serve(ln net.Listener, r *reaper) error {
	for {
		conn, err := ln.Accept()
		if err != nil {
			var netErr net.Error
			if errors.As(err, &netErr) && netErr.Timeout() {
				continue
			}
			return err
		}
		go r.handle(conn)
	}
}

// exitOnSignal kills every running command's group and exits (docker stop, or a test host).
func (r *reaper) exitOnSignal() {
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)
	sig := <-signals
	log.Printf("%v: stopping", sig)
	r.mu.Lock()
	for pid := range r.leaders {
		_ = syscall.Kill(-pid, syscall.SIGKILL)
	}
	os.Exit(0)
}

func minInt(a, b int) int {
	if a < b {
		return a
	}
	return b
}

func maxInt(a, b int) int {
	if a > b {
		return a
	}
	return b
}

func main() {
	socket := flag.String("socket", "", "unix socket to listen on (required)")
	maxFileSize := flag.Uint64("max-file-size", 0, "RLIMIT_FSIZE for commands, bytes (0: unchanged)")
	maxOpenFiles := flag.Uint64("max-open-files", 0, "RLIMIT_NOFILE for commands (0: unchanged)")
	flag.Parse()
	log.SetPrefix("agentd-runner: ")
	if *socket == "" {
		fmt.Fprintln(os.Stderr, "agentd-runner: -socket PATH is required")
		os.Exit(2)
	}
	syscall.Umask(0o002)
	if err := applyLimits(*maxFileSize, *maxOpenFiles); err != nil {
		log.Fatal(err)
	}
	// Orphans of our commands come back to us even when we are not PID 1.
	_, _, _ = syscall.RawSyscall(syscall.SYS_PRCTL, prSetChildReaper, 1, 0)
	warmUp(warmThreads)
	r := newReaper()
	go r.loop()
	go r.exitOnSignal()
	ln, err := listen(*socket)
	if err != nil {
		log.Fatalf("listen on %s: %v", *socket, err)
	}
	log.Printf("version %s listening on %s", runnerVersion, *socket)
	log.Fatal(serve(ln, r))
}
