package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// readyWords is what both windows write to stderr when their page is
// interactive: linkdesk logs it when its page says it is ready (package
// session, BenchReadyMessage), the bare window prints it on its load event.
const readyWords = "page interactive"

// windowRun is one start of a window program.
type windowRun struct {
	// Ready is the time from just before the process was started to the
	// arrival of its "page interactive" line.
	Ready time.Duration
	// Procs is the process tree with its memory, read Idle after Ready.
	Procs []proc
	// PSSkB is the tree's total PSS.
	PSSkB int64
	// CPU is the CPU time (user + system) the tree had used when the page
	// became interactive: less sensitive to a busy machine than Ready.
	CPU time.Duration
	// Foreign counts other programs' WebKit processes running when the
	// memory was read.
	Foreign int
	// CPUs is CPU time by process at that moment.
	CPUs []procCPU
	// Lines are the first stderr lines with their arrival times (for
	// finding out where start-up time goes).
	Lines []timedLine
}

type timedLine struct {
	At   time.Duration
	Text string
}

// runWindow starts bin with env, waits for its page to become interactive,
// lets it idle for idle, reads its process tree's memory, and stops it and
// every process it started.
func runWindow(ctx context.Context, bin string, env []string, idle time.Duration) (windowRun, error) {
	var r windowRun
	cmd := exec.Command(bin)
	cmd.Env = env
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return r, err
	}
	lines := make(chan timedLine, 64)
	var start time.Time
	start = time.Now()
	if err := cmd.Start(); err != nil {
		return r, fmt.Errorf("starting %s: %w", bin, err)
	}
	pid := cmd.Process.Pid
	var tree []int
	defer func() { stopTree(cmd, tree) }()
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			lines <- timedLine{At: time.Since(start), Text: sc.Text()}
		}
		io.Copy(io.Discard, stderr)
		close(lines)
	}()

	timeout := time.NewTimer(30 * time.Second)
	defer timeout.Stop()
wait:
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				return r, fmt.Errorf("%s exited before its page was interactive; its output:\n%s", bin, joinLines(r.Lines))
			}
			r.Lines = append(r.Lines, l)
			if strings.Contains(l.Text, readyWords) {
				r.Ready = l.At
				r.CPUs = treeCPU(pid)
				r.CPU = sumCPU(r.CPUs)
				break wait
			}
		case <-timeout.C:
			tree = descendants(pid)
			return r, fmt.Errorf("%s: no %q line within 30 s; its output:\n%s", bin, readyWords, joinLines(r.Lines))
		case <-ctx.Done():
			tree = descendants(pid)
			return r, ctx.Err()
		}
	}
	// Keep draining stderr while idle so the program never blocks on it.
	go func() {
		for range lines {
		}
	}()
	select {
	case <-time.After(idle):
	case <-ctx.Done():
		tree = descendants(pid)
		return r, ctx.Err()
	}
	r.Procs = treeMemory(pid)
	r.Foreign = foreignWebKit(r.Procs)
	for _, p := range r.Procs {
		tree = append(tree, p.PID)
	}
	r.PSSkB, err = sumPSS(r.Procs)
	return r, err
}

// stopTree ends the program with SIGTERM (SIGKILL after 5 s), then makes
// sure every process of its tree (WebKit's children, recorded in tree) has
// gone, killing leftovers by pid.
func stopTree(cmd *exec.Cmd, tree []int) {
	if cmd.Process == nil {
		return
	}
	if len(tree) == 0 {
		tree = descendants(cmd.Process.Pid)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		cmd.Process.Kill()
		<-done
	}
	deadline := time.Now().Add(5 * time.Second)
	for _, p := range tree {
		for alive(p) && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if alive(p) {
			syscall.Kill(p, syscall.SIGKILL)
		}
	}
}

func joinLines(ls []timedLine) string {
	var b strings.Builder
	for _, l := range ls {
		fmt.Fprintf(&b, "  %6.0f ms  %s\n", ms(l.At), l.Text)
	}
	if b.Len() == 0 {
		return "  (nothing)\n"
	}
	return b.String()
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// runEnv is the environment for the window runs: the bench's own minus every
// LINKDESK_* variable (linkdesk runs on its defaults), with XDG directories
// under dir (one set for the whole benchmark, warmed by the warm-up starts,
// as a desktop's are after a program's first start), plus extra.
func runEnv(dir string, extra ...string) ([]string, error) {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "LINKDESK_") || k == "XDG_CACHE_HOME" ||
			k == "XDG_DATA_HOME" || k == "XDG_CONFIG_HOME" || k == "XDG_STATE_HOME" {
			continue
		}
		env = append(env, kv)
	}
	for _, sub := range []string{"cache", "data", "config", "state"} {
		if err := os.MkdirAll(dir+"/"+sub, 0o700); err != nil {
			return nil, err
		}
	}
	env = append(env, "XDG_CACHE_HOME="+dir+"/cache", "XDG_DATA_HOME="+dir+"/data",
		"XDG_CONFIG_HOME="+dir+"/config", "XDG_STATE_HOME="+dir+"/state")
	return append(env, extra...), nil
}

var errNoDisplay = errors.New("no display: DISPLAY and WAYLAND_DISPLAY are unset. Run the benchmark with `go tool task bench`, or inside build/scripts/with-desktop.sh (Xvfb + D-Bus)")
