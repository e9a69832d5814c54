package main

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// proc is one process of a measured process tree.
type proc struct {
	PID    int
	Name   string // /proc/PID/comm
	PSSkB  int64  // Pss from /proc/PID/smaps_rollup
	RSSkB  int64  // Rss from /proc/PID/smaps_rollup (for the record only)
	Failed string // why PSS could not be read, if it could not
}

// descendants returns pid and every process below it (children, their
// children, …), found by reading the parent of every process in /proc.
func descendants(pid int) []int {
	parent := map[int][]int{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// The command name is in parentheses and may hold spaces: the
		// fields after the last ')' are state, ppid, ….
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) < 2 {
			continue
		}
		ppid, _ := strconv.Atoi(f[1])
		parent[ppid] = append(parent[ppid], child)
	}
	out := []int{pid}
	for i := 0; i < len(out); i++ {
		out = append(out, parent[out[i]]...)
	}
	sort.Ints(out[1:])
	return out
}

// treeMemory reads PSS and RSS of pid and all its descendants.
func treeMemory(pid int) []proc {
	var out []proc
	for _, p := range descendants(pid) {
		pr := proc{PID: p}
		if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", p)); err == nil {
			pr.Name = strings.TrimSpace(string(b))
		}
		pss, rss, err := smapsRollup(p)
		if err != nil {
			pr.Failed = err.Error()
		}
		pr.PSSkB, pr.RSSkB = pss, rss
		out = append(out, pr)
	}
	return out
}

func smapsRollup(pid int) (pss, rss int64, err error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	found := false
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 {
			continue
		}
		v, _ := strconv.ParseInt(fields[1], 10, 64)
		switch fields[0] {
		case "Pss:":
			pss, found = v, true
		case "Rss:":
			rss = v
		}
	}
	if err := sc.Err(); err != nil {
		return 0, 0, err
	}
	if !found {
		return 0, 0, fmt.Errorf("no Pss line in /proc/%d/smaps_rollup", pid)
	}
	return pss, rss, nil
}

// sumPSS is the tree's total PSS in kB, and an error naming any process
// whose PSS could not be read (the sum would be too low).
func sumPSS(ps []proc) (int64, error) {
	var total int64
	for _, p := range ps {
		if p.Failed != "" {
			return 0, fmt.Errorf("cannot read the memory of %s (pid %d): %s", p.Name, p.PID, p.Failed)
		}
		total += p.PSSkB
	}
	return total, nil
}

// alive reports whether pid still exists (and is not a zombie).
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || !strings.HasPrefix(strings.TrimSpace(s[i+1:]), "Z")
}

// clockTick is the unit of the CPU times in /proc/PID/stat (USER_HZ, 100 on
// every Linux architecture Go supports).
const clockTick = 10 * time.Millisecond

// procCPU is one process's CPU time (user + system, with its reaped
// children's).
type procCPU struct {
	Name string
	CPU  time.Duration
}

// treeCPU is the CPU time used so far by pid and each of its descendants.
func treeCPU(pid int) []procCPU {
	var out []procCPU
	for _, p := range descendants(pid) {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p))
		if err != nil {
			continue
		}
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		j := strings.IndexByte(s, '(')
		if i < 0 || j < 0 || j > i {
			continue
		}
		// After the name: state(0) ppid(1) … utime(11) stime(12) cutime(13) cstime(14).
		f := strings.Fields(s[i+1:])
		if len(f) < 15 {
			continue
		}
		var ticks int64
		for _, k := range []int{11, 12, 13, 14} {
			v, _ := strconv.ParseInt(f[k], 10, 64)
			ticks += v
		}
		out = append(out, procCPU{Name: s[j+1 : i], CPU: time.Duration(ticks) * clockTick})
	}
	return out
}

func sumCPU(ps []procCPU) time.Duration {
	var t time.Duration
	for _, p := range ps {
		t += p.CPU
	}
	return t
}

// loadAverage is the 1-minute load average, or -1.
func loadAverage() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return -1
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return -1
	}
	v, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return -1
	}
	return v
}

// foreignWebKit counts WebKit processes outside tree (other programs'
// windows). They share WebKit's library pages with the measured processes,
// so while they run every measured PSS comes out lower.
func foreignWebKit(tree []proc) int {
	mine := map[int]bool{}
	for _, p := range tree {
		mine[p.PID] = true
	}
	n := 0
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || mine[pid] {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "comm"))
		if err == nil && strings.HasPrefix(string(b), "WebKit") {
			n++
		}
	}
	return n
}
