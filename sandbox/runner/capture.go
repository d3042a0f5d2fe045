package main

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"time"
)

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

// finishDrain waits a moment for output still in flight, then stops reading. Every writer is dead
// by now (its group was killed), but a pipe end passed to another command's process must not hold
// the answer hostage.
func finishDrain(f *os.File, done <-chan struct{}) {
	select {
	case <-done:
		return
	case <-time.After(drainGrace):
	}
	_ = f.SetReadDeadline(time.Now())
	<-done
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
