package main

// The trampoline: every command starts as `runner -exec PATH ARGV...`, which locks the process
// group it was started in and then becomes the command. The lock is a seccomp filter that turns
// setsid and setpgid into no-ops reporting success, so no process of the command can ever leave
// its group, and one kill(-pgid) reaches all of them, atomically with respect to fork. Filters are
// inherited by every child and survive execve; no_new_privs (set by Docker too) keeps it so.
//
// The runner's binary is execute-only for the sandbox user, so the kernel marks the trampoline
// non-dumpable from its first instruction: no other process of the sandbox can ptrace it or write
// its memory in the moment before the filter is in place.

import (
	"fmt"
	"os"
	"runtime"
	"syscall"
	"unsafe"
)

const (
	prSetNoNewPrivs        = 38
	seccompSetModeFilter   = 1
	seccompFilterFlagTsync = 1
	seccompRetAllow        = 0x7fff0000
	seccompRetErrno        = 0x00050000
	x32SyscallBit          = 0x40000000

	bpfLdWAbs  = 0x20 // BPF_LD | BPF_W | BPF_ABS
	bpfJeqK    = 0x15 // BPF_JMP | BPF_JEQ | BPF_K
	bpfJgeK    = 0x35 // BPF_JMP | BPF_JGE | BPF_K
	bpfRetK    = 0x06 // BPF_RET | BPF_K
	offsetNr   = 0    // seccomp_data.nr
	offsetArch = 4    // seccomp_data.arch
)

// lockedArch is what the filter needs to know about this machine: its audit arch, the seccomp
// syscall's number and the two syscalls it neutralises.
type lockedArch struct {
	audit   uint32
	seccomp uintptr
	setsid  uint32
	setpgid uint32
	x32     bool // amd64 also accepts x32 syscalls (nr | 0x40000000); they are refused
}

var archs = map[string]lockedArch{
	"amd64": {audit: 0xc000003e, seccomp: 317, setsid: 112, setpgid: 109, x32: true},
	"arm64": {audit: 0xc00000b7, seccomp: 277, setsid: 157, setpgid: 154},
}

type sockFilter struct {
	code uint16
	jt   uint8
	jf   uint8
	k    uint32
}

type sockFprog struct {
	len    uint16
	filter *sockFilter
}

// groupLockFilter is the BPF program: other arches' syscalls fail (ENOSYS), setsid and setpgid
// return 0 without doing anything, everything else is allowed.
func groupLockFilter(a lockedArch) []sockFilter {
	noop := uint32(seccompRetErrno | 0) // errno 0: the call "succeeds" and changes nothing
	enosys := uint32(seccompRetErrno | uint32(syscall.ENOSYS))
	x32Limit := uint32(0xffffffff) // no syscall number reaches it: the check is a no-op off amd64
	if a.x32 {
		x32Limit = x32SyscallBit
	}
	return []sockFilter{
		{bpfLdWAbs, 0, 0, offsetArch},
		{bpfJeqK, 1, 0, a.audit},
		{bpfRetK, 0, 0, enosys},
		{bpfLdWAbs, 0, 0, offsetNr},
		{bpfJgeK, 0, 1, x32Limit},
		{bpfRetK, 0, 0, enosys},
		{bpfJeqK, 2, 0, a.setsid},
		{bpfJeqK, 1, 0, a.setpgid},
		{bpfRetK, 0, 0, seccompRetAllow},
		{bpfRetK, 0, 0, noop},
	}
}

// lockGroup installs the filter on every thread of this process.
func lockGroup() error {
	a, ok := archs[runtime.GOARCH]
	if !ok {
		return fmt.Errorf("no process-group lock for %s", runtime.GOARCH)
	}
	if _, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, prSetNoNewPrivs, 1, 0); errno != 0 {
		return fmt.Errorf("prctl(NO_NEW_PRIVS): %v", errno)
	}
	filter := groupLockFilter(a)
	prog := sockFprog{len: uint16(len(filter)), filter: &filter[0]}
	_, _, errno := syscall.RawSyscall(a.seccomp, seccompSetModeFilter, seccompFilterFlagTsync, uintptr(unsafe.Pointer(&prog)))
	runtime.KeepAlive(filter)
	if errno != 0 {
		return fmt.Errorf("seccomp: %v", errno)
	}
	return nil
}

// execLocked is the trampoline's whole life: lock the group, become the command. Never returns.
func execLocked(path string, argv []string) {
	if err := lockGroup(); err != nil {
		fmt.Fprintf(os.Stderr, "agentd-runner: cannot lock the command's process group: %v\n", err)
		os.Exit(126)
	}
	err := syscall.Exec(path, argv, os.Environ())
	fmt.Fprintf(os.Stderr, "agentd-runner: %s: cannot start: %v\n", argv[0], err)
	if err == syscall.ENOENT {
		os.Exit(127)
	}
	os.Exit(126)
}
