package main

// One command: validate the request, start it through the trampoline in a group of its own,
// capture its output, and answer once nothing of it is left.

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

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
	c, err := r.start(append([]string{r.self, "-exec", cmd.path}, cmd.argv...), attr)
	outW.Close()
	errW.Close()
	if errors.Is(err, errStopped) {
		return result{ExitCode: 137, Stopped: r.stoppedReason()}
	}
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
	killed := r.finish(c)
	finishDrain(outR, outDone)
	finishDrain(errR, errDone)
	r.mu.Lock()
	timedOut := c.timedOut
	r.mu.Unlock()
	res := result{ExitCode: exitStatus(ws), TimedOut: timedOut, Killed: killed, Stopped: r.stoppedReason()}
	var cutOut, cutErr bool
	res.Stdout, cutOut = stdout.text()
	res.Stderr, cutErr = stderr.text()
	res.Truncated = cutOut || cutErr
	res.DurationMs = float64(time.Since(started).Microseconds()) / 1000
	return res
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
