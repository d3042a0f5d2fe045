package main

// The lane's disk limit. The workspace and the job's build cache are host disk, so while a command
// runs the runner measures what the lane holds there and stops the lane (kills everything, refuses
// later commands, says why) once it holds more than the limit. A measure counts every file under
// the watched roots (blocks really allocated, hard links once) plus the files processes hold open
// or mapped after unlinking them; a process that makes itself uninspectable (non-dumpable) is taken
// as hiding and stops the lane too. Between measures, statfs of the filesystems (one syscall each)
// is checked every tick: when they grew by more than the lane's headroom, the next measure is now.

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

const (
	diskTick      = 20 * time.Millisecond // statfs, every tick while a command runs
	measureEvery  = time.Second           // a full measure at least this often while commands run...
	measureCostX  = 20                    // ...or every 20 times what the last one took, if more
	measureMinGap = 5                     // and never more often than every 5 times its cost
	inspectTries  = 5                     // looks at a process whose files are hidden before calling it hiding
	pfExiting     = 0x4                   // PF_EXITING in /proc/PID/stat's flags
)

type fileKey struct {
	dev uint64
	ino uint64
}

// diskLimit watches the lane's roots; measure and enforce may run from the watcher or from freeze.
type diskLimit struct {
	limit int64
	roots []string
	skip  string // the worktree's .git: mounted read-only, never the lane's to grow
	r     *reaper
	mu    sync.Mutex
	used  int64         // what the last measure found
	fs    uint64        // the filesystems' used bytes when it started
	at    time.Time     // when it started
	cost  time.Duration // how long it took
}

// watch runs forever: asleep while no command runs, checking every tick while one does.
func (d *diskLimit) watch() {
	for {
		if d.r.idle() {
			<-d.r.wake
			continue
		}
		time.Sleep(diskTick)
		if d.due() {
			d.enforce()
		}
	}
}

// due says whether a full measure should run now.
func (d *diskLimit) due() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	since := time.Since(d.at)
	if since < maxDuration(diskTick, measureMinGap*d.cost) {
		return false
	}
	if since >= maxDuration(measureEvery, measureCostX*d.cost) {
		return true
	}
	grown := int64(fsUsed(d.roots)) - int64(d.fs)
	return d.used+grown > d.limit
}

// enforce measures and stops the lane when it is over its limit or hides its use; returns the use.
func (d *diskLimit) enforce() int64 {
	used, err := d.measure()
	switch {
	case err != nil:
		d.r.stop(fmt.Sprintf("the lane hid part of its disk use from the runner (%v); it was stopped", err))
	case used > d.limit:
		d.r.stop(fmt.Sprintf("the lane holds %s on disk (workspace and build cache), over its limit of %s "+
			"(sandbox.disk_limit); it was stopped", mib(used), mib(d.limit)))
	}
	return used
}

func (d *diskLimit) measure() (int64, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	started, fs := time.Now(), fsUsed(d.roots)
	seen := map[fileKey]bool{}
	devs := map[uint64]bool{}
	var used int64
	for _, root := range d.roots {
		n, err := d.walk(root, seen, devs)
		if err != nil {
			return 0, err
		}
		used += n
	}
	hidden, err := d.unlinked(devs, seen)
	if err != nil {
		return 0, err
	}
	d.used, d.fs, d.at, d.cost = used+hidden, fs, started, time.Since(started)
	return d.used, nil
}

// walk adds up the blocks of everything under root, symlinks not followed, hard links once.
func (d *diskLimit) walk(root string, seen map[fileKey]bool, devs map[uint64]bool) (int64, error) {
	var st syscall.Stat_t
	if err := syscall.Lstat(root, &st); err != nil {
		return 0, nil // no cache mounted, or no workspace: nothing to count
	}
	devs[st.Dev] = true
	used := st.Blocks * 512
	stack := []string{root}
	for len(stack) > 0 {
		dir := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		names, err := readableNames(dir)
		if err != nil {
			return 0, err
		}
		for _, name := range names {
			path := dir + "/" + name
			if path == d.skip || syscall.Lstat(path, &st) != nil {
				continue // gone meanwhile
			}
			if st.Mode&syscall.S_IFMT == syscall.S_IFDIR {
				stack = append(stack, path)
			} else if st.Nlink > 1 {
				key := fileKey{st.Dev, st.Ino}
				if seen[key] {
					continue
				}
				seen[key] = true
			}
			used += st.Blocks * 512
		}
	}
	return used, nil
}

// readableNames lists a directory; one the sandbox made unreadable is made readable first (the
// runner is its owner), and one that stays unreadable is an error.
func readableNames(dir string) ([]string, error) {
	names, err := readNames(dir)
	if os.IsPermission(err) {
		var st syscall.Stat_t
		if syscall.Lstat(dir, &st) == nil {
			_ = syscall.Chmod(dir, st.Mode&0o7777|0o700)
		}
		names, err = readNames(dir)
	}
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("cannot list %s: %v", dir, err)
	}
	return names, nil
}

func readNames(dir string) ([]string, error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return f.Readdirnames(-1)
}

// unlinked adds up files on the watched filesystems that processes keep open or mapped after
// unlinking them: they use disk that no walk finds.
func (d *diskLimit) unlinked(devs map[uint64]bool, seen map[fileKey]bool) (int64, error) {
	self := os.Getpid()
	var used int64
	var problem error
	forEachPid(func(pid int) {
		if pid == self || problem != nil {
			return
		}
		n, err := openUnlinked(pid, devs, seen)
		for try := 0; os.IsPermission(err) && try < inspectTries && !dying(pid); try++ {
			time.Sleep(time.Millisecond) // a process that is exiting has let go of its memory: wait and see
			n, err = openUnlinked(pid, devs, seen)
		}
		if os.IsPermission(err) && !dying(pid) && !d.r.isYoungLeader(pid) {
			problem = fmt.Errorf("process %d cannot be inspected (it made itself non-dumpable)", pid)
		}
		used += n
		used += mappedUnlinked(pid, devs, seen)
	})
	return used, problem
}

// dying says whether a process is gone, exiting or a zombie: it has let go of its memory (so its
// /proc/PID/fd belongs to root) and closes or has closed its files.
func dying(pid int) bool {
	fields := statFields(pid)
	if len(fields) < 7 || fields[0] == "Z" || fields[0] == "X" {
		return true
	}
	flags, err := strconv.ParseUint(fields[6], 10, 64)
	return err == nil && flags&pfExiting != 0
}

func openUnlinked(pid int, devs map[uint64]bool, seen map[fileKey]bool) (int64, error) {
	dir := "/proc/" + strconv.Itoa(pid) + "/fd"
	names, err := readNames(dir)
	if err != nil {
		if os.IsPermission(err) {
			return 0, err
		}
		return 0, nil // gone meanwhile
	}
	var used int64
	for _, name := range names {
		link, err := os.Readlink(dir + "/" + name)
		if err != nil || !strings.HasSuffix(link, " (deleted)") {
			continue
		}
		var st syscall.Stat_t
		if syscall.Stat(dir+"/"+name, &st) != nil || !devs[st.Dev] || st.Nlink != 0 {
			continue
		}
		if key := (fileKey{st.Dev, st.Ino}); !seen[key] {
			seen[key] = true
			used += st.Blocks * 512
		}
	}
	return used, nil
}

// mappedUnlinked counts the mapped size of unlinked files (an upper bound: mappings cannot be stat'ed).
func mappedUnlinked(pid int, devs map[uint64]bool, seen map[fileKey]bool) int64 {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/maps")
	if err != nil {
		return 0
	}
	defer f.Close()
	var used int64
	lines := bufio.NewScanner(f)
	for lines.Scan() {
		line := lines.Text()
		fields := strings.Fields(line)
		if !strings.HasSuffix(line, "(deleted)") || len(fields) < 6 {
			continue
		}
		dev, ok := parseDev(fields[3])
		ino, err := strconv.ParseUint(fields[4], 10, 64)
		if !ok || err != nil || ino == 0 || !devs[dev] {
			continue
		}
		start, end, ok := parseRange(fields[0])
		if key := (fileKey{dev, ino}); ok && !seen[key] {
			seen[key] = true
			used += int64(end - start)
		}
	}
	return used
}

// parseDev turns maps' "major:minor" (hex) into a st_dev value.
func parseDev(text string) (uint64, bool) {
	major, minor, found := strings.Cut(text, ":")
	ma, err1 := strconv.ParseUint(major, 16, 32)
	mi, err2 := strconv.ParseUint(minor, 16, 32)
	if !found || err1 != nil || err2 != nil {
		return 0, false
	}
	return (mi & 0xff) | ((ma & 0xfff) << 8) | ((mi &^ 0xff) << 12) | ((ma &^ 0xfff) << 32), true
}

func parseRange(text string) (uint64, uint64, bool) {
	lo, hi, found := strings.Cut(text, "-")
	start, err1 := strconv.ParseUint(lo, 16, 64)
	end, err2 := strconv.ParseUint(hi, 16, 64)
	return start, end, found && err1 == nil && err2 == nil && end >= start
}

// fsUsed is the used bytes of the filesystems holding the roots, each counted once.
func fsUsed(roots []string) uint64 {
	seen := map[syscall.Fsid]bool{}
	var used uint64
	for _, root := range roots {
		var st syscall.Statfs_t
		if syscall.Statfs(root, &st) != nil || seen[st.Fsid] {
			continue
		}
		seen[st.Fsid] = true
		used += (st.Blocks - st.Bfree) * uint64(st.Bsize)
	}
	return used
}

func mib(n int64) string {
	return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
}

func maxDuration(a, b time.Duration) time.Duration {
	if a > b {
		return a
	}
	return b
}
